"""Review: find the labels most likely wrong, and let a reviewer confirm or change them.

The finder is confident learning (:mod:`labelwise.learn.confident_learning`) on out-of-fold
probabilities of the project's head over the frozen features. A confirmation or change is a
``label_reviews`` row (who, when, from what); a change is also a new annotation (source
``review``) that supersedes the old one, which stays for audit. A label a reviewer has looked at
is not listed again until someone labels the image anew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.learn.confident_learning import rank_label_issues, select_out_of_fold_probabilities
from labelwise.project.labels import _class_by_name, add_annotation, normalize_path
from labelwise.project.pool import load_pool
from labelwise.project.project import Project
from labelwise.project.queue import NotFoundError
from labelwise.store.models import Annotation, Image, LabelClass, LabelReview

REASON = "likely-mislabeled"
REVIEW_SOURCE = "review"


@dataclass
class SuspectLabel:
    """One current label, ranked by how likely it is wrong."""

    rank: int
    image_id: int
    path: str
    label: str
    given_p: float  # out-of-fold probability of the label given
    suggested: str  # the class confident learning counts the image as
    suggested_p: float
    flagged: bool  # off the diagonal of the confident joint: likely mislabeled
    annotator: str
    labeled_at: str


@dataclass
class SuspectReport:
    items: list[SuspectLabel]
    n_checked: int  # labels cross-validated
    n_flagged: int  # of those, flagged by confident learning (reviewed ones included)
    n_reviewed: int  # current labels a reviewer has looked at (confirmed or made): not listed
    seconds: float
    notes: list[str] = field(default_factory=list)


def _reviewed_annotations(session: Session) -> set[int]:
    """Current annotations a reviewer has looked at: confirmed ones and those a review made."""
    confirmed = session.scalars(select(LabelReview.annotation_id).where(LabelReview.action == "confirm"))
    made = session.scalars(
        select(Annotation.id).where(Annotation.source == REVIEW_SOURCE, Annotation.superseded.is_(False))
    )
    return set(confirmed) | set(made)


def refuse_multi_label(project: Project) -> None:
    """Review is single-label: its finder ranks by the out-of-fold probability of one given class,
    and a change replaces one class by another. A multi-label project is refused, saying so."""
    if project.multi_label:
        raise LabelwiseError(
            "review: not available on a multi-label project (the likely-mislabeled finder and a label change "
            "speak of one class per image); relabel an image from the annotate page or `labelwise label`"
        )


def likely_mislabeled(project: Project, n: int = 20, *, n_folds: int = 5, seed: int = 0) -> SuspectReport:
    """The ``n`` current labels most likely wrong: by ascending out-of-fold probability of the label.

    Every label takes part in the cross-validation; labels of a class with fewer than two labels
    cannot be cross-validated and are left out (a note says so).
    """
    refuse_multi_label(project)
    if n < 1:
        raise LabelwiseError(f"n: expected at least 1, got {n}")
    start = time.perf_counter()
    pool = load_pool(project)
    labeled = np.flatnonzero(pool.labels >= 0)
    counts = np.bincount(pool.labels[labeled], minlength=len(pool.class_names))
    notes = []
    lonely = [pool.class_names[k] for k in np.flatnonzero(counts == 1)]
    if lonely:
        notes.append(f"Not checked: the single label of {', '.join(lonely)} (a class needs 2 labels to cross-validate)")
        labeled = labeled[counts[pool.labels[labeled]] >= 2]
    if np.unique(pool.labels[labeled]).size < 2:
        raise LabelwiseError("review: needs at least two classes with two labels or more before labels can be checked")
    y = pool.labels[labeled]
    probs, _ = select_out_of_fold_probabilities(pool.X[labeled], y, len(pool.class_names), n_folds=n_folds,
                                                random_state=seed)  # fmt: skip
    issues = rank_label_issues(probs, y)
    with project.sessions() as session:
        reviewed = _reviewed_annotations(session)
        current = {
            row.image_id: row
            for row in session.execute(
                select(Annotation.id, Annotation.image_id, Annotation.annotator, Annotation.created_at).where(
                    Annotation.superseded.is_(False)
                )
            )
        }
    items: list[SuspectLabel] = []
    for row in issues.order:
        image_id = int(pool.image_ids[labeled[row]])
        annotation = current[image_id]
        if annotation.id in reviewed:
            continue
        if len(items) < n:
            suggested = int(issues.suggested[row])
            items.append(SuspectLabel(
                rank=len(items) + 1, image_id=image_id, path=pool.paths[labeled[row]],
                label=pool.class_names[int(y[row])], given_p=float(issues.given_p[row]),
                suggested=pool.class_names[suggested], suggested_p=float(probs[row, suggested]),
                flagged=bool(issues.flagged[row]), annotator=annotation.annotator,
                labeled_at=annotation.created_at.isoformat(),
            ))  # fmt: skip
    n_reviewed = sum(row.id in reviewed for row in current.values())
    return SuspectReport(items, int(labeled.size), int(issues.flagged.sum()), n_reviewed,
                         time.perf_counter() - start, notes)  # fmt: skip


def _image(session: Session, project: Project, image: int | str) -> Image:
    if isinstance(image, int):
        found = session.get(Image, image)
    else:
        found = session.scalar(select(Image).where(Image.path == normalize_path(project, image)))
    if found is None:
        raise NotFoundError(f"image {image!r}: not in the project")
    return found


def review_label(
    project: Project,
    image: int | str,
    *,
    reviewer: str,
    new_class: str | None = None,
    user_id: int | None = None,
    given_p: float | None = None,
    reason: str | None = REASON,
) -> dict:
    """Confirm (``new_class`` None or the label it has) or change the current label of ``image``
    (an id or a path); returns the review as :func:`review_history` gives it."""
    refuse_multi_label(project)
    with project.sessions.begin() as session:
        found = _image(session, project, image)
        current = session.scalar(
            select(Annotation).where(Annotation.image_id == found.id, Annotation.superseded.is_(False))
        )
        if current is None:
            raise LabelwiseError(f"image {found.path!r}: has no label to review")
        old = session.get(LabelClass, current.class_id)
        new = old if new_class is None or new_class == old.name else _class_by_name(session, new_class)
        review = LabelReview(image_id=found.id, annotation_id=current.id, old_class_id=old.id, new_class_id=new.id,
                             action="confirm" if new.id == old.id else "change", reason=reason, given_p=given_p,
                             reviewed_by=reviewer, user_id=user_id)  # fmt: skip
        if review.action == "change":
            made = add_annotation(session, found, new, annotator=reviewer, source=REVIEW_SOURCE, user_id=user_id)
            session.flush()
            review.new_annotation_id = made.id
        session.add(review)
        session.flush()
        return _history_row(review, found.path, old.name, new.name, current)


def _history_row(review: LabelReview, path: str, old: str, new: str, annotation: Annotation) -> dict:
    return {"id": review.id, "image_id": review.image_id, "path": path, "action": review.action, "from": old,
            "to": new, "by": review.reviewed_by, "at": review.reviewed_at.isoformat() if review.reviewed_at else None,
            "reason": review.reason, "given_p": review.given_p, "labeled_by": annotation.annotator,
            "labeled_at": annotation.created_at.isoformat()}  # fmt: skip


def review_history(project: Project, limit: int = 50, image_id: int | None = None) -> list[dict]:
    """The latest reviews, newest first: who, when, from which label (given by whom) to which."""
    with project.sessions() as session:
        query = select(LabelReview).order_by(LabelReview.id.desc()).limit(limit)
        if image_id is not None:
            query = query.where(LabelReview.image_id == image_id)
        reviews = session.scalars(query).all()
        names = dict(session.execute(select(LabelClass.id, LabelClass.name)).all())
        out = []
        for r in reviews:
            image = session.get(Image, r.image_id)
            annotation = session.get(Annotation, r.annotation_id)
            out.append(_history_row(r, image.path, names[r.old_class_id], names[r.new_class_id], annotation))
        return out
