"""What the dashboard and ``GET /api/status`` show, computed in one place.

Every open dashboard polls it, so it is cached per state of the project: the label count, the newest
label, model version, image, class and setting change, and the store size (one query of maxima and
counts). Recomputing it after a label reads only label-sized tables: the image counts are kept per
state of the pool (:func:`labelwise.project.status.label_and_image_counts`). The retrainer's live fields (training,
serving version, queue length, serving head) are never cached.
A change no key sees (an image's status changed by a concurrent ``check``) shows within ``MAX_AGE_S``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select

from labelwise.project.accuracy import estimate_for, load_audit_labels
from labelwise.project.preselect import preselection_stats
from labelwise.project.project import Project
from labelwise.project.settings import get_settings, settings_history
from labelwise.project.status import label_and_image_counts
from labelwise.project.training import Ranking, load_history, stopping_status
from labelwise.project.votes import agreement_status
from labelwise.store.models import Annotation, Image, LabelClass, LabelReview, ModelVersion, SettingChange

MAX_AGE_S = 30.0


@dataclass(frozen=True)
class ModelSummary:
    """The newest trained model."""

    version: int
    n_labels: int
    strategy: str | None
    # The honest number: agreement with the random audit sample (None while too few).
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    accuracy_n: int
    accuracy_versions: list[int]
    accuracy_reason: str
    # Cross-validated on the labels active learning chose: optimistic, kept for comparison.
    cv_accuracy_optimistic: float | None
    cv_accuracy_sd: float | None
    seconds: float | None
    trained_at: str


@dataclass(frozen=True)
class TrainingError:
    version: int
    error: str | None


@dataclass(frozen=True)
class CurvePoint:
    """A model version's audit estimate, for the learning curve."""

    version: int
    n_labels: int
    accuracy: float | None
    low: float | None
    high: float | None
    n_audit: int


@dataclass(frozen=True)
class StoppingCriterion:
    name: str
    met: bool
    reason: str


@dataclass(frozen=True)
class DashboardStatus:
    images_ok: int
    images_broken: int
    images_duplicate: int
    labeled: int
    unlabeled: int
    classes: dict[str, int]  # labels per class, in column order
    model: ModelSummary | None
    serving_version: int | None
    queue_length: int
    # Which head's probabilities rank the served queue, and why (auto: what cross-validation chose).
    serving_head: str | None
    serving_head_reason: str | None
    # With ray_address in labelwise.toml: whether the ranking was scored on Ray, or why not (a set strategy).
    ranking_note: str | None
    training: bool
    training_error: TrainingError | None
    learning_curve: list[CurvePoint]
    stopping: list[StoppingCriterion]
    preselection: dict[str, float | int | None]
    # Overlap images: kappa with the images it rests on, each person's agreement with the majority.
    agreement: dict[str, Any]
    settings: dict[str, Any]
    settings_history: list[dict[str, Any]]
    kind: str = "single-label"  # or multi-label, fixed at init (project/multilabel_labels.py)


_cache: dict[str, tuple[tuple, float, DashboardStatus]] = {}
_cache_lock = threading.Lock()


def _state_key(project: Project) -> tuple:
    """What the cached status depends on, in one round trip."""
    with project.sessions() as session:
        row = session.execute(
            select(
                select(func.count()).select_from(Annotation).where(Annotation.superseded.is_(False)).scalar_subquery(),
                select(func.max(Annotation.id)).scalar_subquery(),
                select(func.max(ModelVersion.id)).scalar_subquery(),
                select(func.max(Image.id)).scalar_subquery(),
                select(func.count()).select_from(LabelClass).scalar_subquery(),
                select(func.max(SettingChange.id)).scalar_subquery(),
                # Agreement (overlap): an undone second opinion or a confirmed dispute changes no count above.
                select(func.count())
                .select_from(Annotation)
                .where(Annotation.deleted_at.is_not(None))
                .scalar_subquery(),
                select(func.max(LabelReview.id)).scalar_subquery(),
            )
        ).one()
    return (*row, len(project.store), tuple(project.class_names()))  # names: a rename keeps the count


def dashboard_status(project: Project, ranking: Ranking | None, training: bool) -> DashboardStatus:
    """The status, from the cache while the project's state is unchanged (see the module docstring).

    ranking, training: the retrainer's ranking in service and whether it is training now.
    """
    key = _state_key(project)
    folder = str(project.folder)
    with _cache_lock:
        cached = _cache.get(folder)
    if cached is not None and cached[0] == key and time.monotonic() - cached[1] < MAX_AGE_S:
        status = cached[2]
    else:
        status = compute_status(project, ranking, training)
        with _cache_lock:
            _cache[folder] = (key, time.monotonic(), status)
    # What the ranking in service says is read from it on every call, never from the cache: a status
    # computed between the new model version's row and the swap of its ranking would otherwise keep
    # the old ranking's head (None after a cold start) under the new version's key.
    return replace(status, **_serving(ranking, training))


def _serving(ranking: Ranking | None, training: bool) -> dict[str, Any]:
    """The status fields that the retrainer's ranking in service and its training flag give."""
    return {
        "serving_version": None if ranking is None else ranking.version,
        "queue_length": 0 if ranking is None else len(ranking.entries),
        "serving_head": None if ranking is None else ranking.head,
        "serving_head_reason": None if ranking is None else ranking.head_reason,
        "ranking_note": None if ranking is None else ranking.note,
        "training": training,
    }


def compute_status(project: Project, ranking: Ranking | None, training: bool) -> DashboardStatus:
    info = label_and_image_counts(project)  # label-sized once the pool's counts are known
    settings = get_settings(project)
    with project.sessions() as session:
        versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))
    ok = [v for v in versions if v.status == "ok"]
    latest = ok[-1] if ok else None
    failed = versions[-1] if versions and versions[-1].status == "failed" else None
    audit = load_audit_labels(project)
    estimate = estimate_for(audit, latest.id, latest.n_labels) if latest else None
    curve = [(v, estimate_for(audit, v.id, v.n_labels)) for v in ok]
    model = None
    if latest is not None and estimate is not None:
        model = ModelSummary(
            version=latest.id, n_labels=latest.n_labels, strategy=latest.strategy,
            accuracy=estimate.value, accuracy_low=estimate.low, accuracy_high=estimate.high,
            accuracy_n=estimate.n, accuracy_versions=list(estimate.versions), accuracy_reason=estimate.reason,
            cv_accuracy_optimistic=latest.accuracy, cv_accuracy_sd=latest.accuracy_sd,
            seconds=latest.seconds, trained_at=latest.created_at.isoformat(),
        )  # fmt: skip
        if project.multi_label:  # no audit of label sets yet: say so instead of a single-label reason
            from labelwise.project.multilabel_model import NOT_MEASURED

            model = replace(model, accuracy_reason=NOT_MEASURED)
    stopping = stopping_status(settings, load_history(project), estimate, labeled_now=info.labeled)
    return DashboardStatus(
        images_ok=info.images_ok,
        images_broken=info.images_broken,
        images_duplicate=info.images_duplicate,
        labeled=info.labeled,
        unlabeled=info.unlabeled,
        classes=info.classes,
        model=model,
        **_serving(ranking, training),
        training_error=None if failed is None else TrainingError(version=failed.id, error=failed.error),
        learning_curve=[
            CurvePoint(version=v.id, n_labels=v.n_labels, accuracy=e.value, low=e.low, high=e.high, n_audit=e.n)
            for v, e in curve
            if e.measured
        ],
        stopping=[StoppingCriterion(**c) for c in stopping],
        preselection=preselection_stats(project),
        agreement=agreement_status(project),
        settings=settings,
        settings_history=settings_history(project, limit=20),
        kind=project.kind,
    )
