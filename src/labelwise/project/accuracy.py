"""The model's accuracy as the product shows it: from the random audit sample (see loop/audit.py).

Each audit label carries the class its serving model version predicted at lease time; the truth is
the image's current label (a corrected label corrects the estimate too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from labelwise.loop.audit import AccuracyEstimate, accuracy_estimate
from labelwise.project.labels import current_labels
from labelwise.project.project import Project
from labelwise.store.models import Annotation, ModelVersion


@dataclass(frozen=True)
class AuditLabels:
    """Audit labels oldest first: serving version, its training labels, prediction and truth."""

    version: np.ndarray
    served_n_labels: np.ndarray
    predicted: np.ndarray
    true: np.ndarray


def load_audit_labels(project: Project) -> AuditLabels:
    classes = project.class_names()
    with project.sessions() as session:
        truth = current_labels(session)
        rows = session.execute(
            select(Annotation.image_id, Annotation.model_version, ModelVersion.n_labels, Annotation.predicted)
            .join(ModelVersion, ModelVersion.id == Annotation.model_version)
            .where(Annotation.audit.is_(True), Annotation.predicted.is_not(None), Annotation.deleted_at.is_(None))
            .order_by(Annotation.id)
        ).all()
    seen: set[int] = set()
    kept = []
    for image_id, version, n_labels, predicted in rows:
        if image_id in truth and image_id not in seen:  # an undone label is no longer evidence
            seen.add(image_id)
            kept.append((version, n_labels, predicted, classes[truth[image_id]]))
    columns = list(zip(*kept, strict=True)) if kept else [(), (), (), ()]
    return AuditLabels(
        np.array(columns[0], dtype=np.int64), np.array(columns[1], dtype=np.int64),
        np.array(columns[2], dtype=object), np.array(columns[3], dtype=object),
    )  # fmt: skip


def estimate_for(labels: AuditLabels, version: int, n_labels: int) -> AccuracyEstimate:
    """The estimate shown while ``version`` (trained on ``n_labels``) is the newest model: the trend
    of the audit labels served by it and earlier versions, read at ``n_labels``
    (:func:`labelwise.loop.audit.accuracy_estimate`; the recent window when the fit is ill-posed)."""
    upto = labels.version <= version
    versions = tuple(sorted({int(v) for v in labels.version[upto]}))
    return accuracy_estimate(
        labels.served_n_labels[upto], labels.predicted[upto], labels.true[upto], n_labels, versions=versions
    )


def model_accuracy(project: Project) -> AccuracyEstimate:
    """The estimate for the newest trained model (too few audit labels: no number, and why)."""
    with project.sessions() as session:
        latest = session.execute(
            select(ModelVersion.id, ModelVersion.n_labels)
            .where(ModelVersion.status == "ok")
            .order_by(ModelVersion.id.desc())
            .limit(1)
        ).first()
    if latest is None:
        return AccuracyEstimate(None, None, None, 0, (), "no model yet")
    return estimate_for(load_audit_labels(project), latest[0], latest[1])
