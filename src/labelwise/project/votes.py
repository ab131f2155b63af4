"""Votes on the overlap images: the majority label training uses, disputed images (ties) for
review, and the team's agreement for the dashboard. See :mod:`labelwise.project.overlap` for how
the second opinions are served and stored."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.loop.agreement import (
    MISSING,
    agreement_with_majority,
    cohen_kappa,
    fleiss_kappa,
    label_counts,
    majority_labels,
)
from labelwise.project.overlap import REVIEW_SOURCE, overlap_settings, pending_opinions
from labelwise.project.project import Project
from labelwise.store.models import Annotation, Image, LabelClass, LabelReview


@dataclass
class Votes:
    """Every vote on the images with at least one second opinion."""

    image_ids: np.ndarray  # (n,) ascending
    raters: list[str]  # display names, one per column
    ratings: np.ndarray  # (n, n_raters) class positions, -1 where that person did not label the image
    resolved: np.ndarray  # (n,) bool: a reviewer confirmed or set the image's label: their word is final
    current: np.ndarray  # (n,) class position of the image's current label (-1: none)


def load_votes(session: Session) -> Votes:
    """The image's label (its latest non-review label, by whoever gave it) and the second opinions,
    one column per person; deleted (undone) labels are not votes."""
    rows = session.execute(
        select(Annotation.id, Annotation.image_id, Annotation.user_id, Annotation.annotator, Annotation.opinion,
               Annotation.superseded, Annotation.source, LabelClass.position)
        .join(LabelClass, LabelClass.id == Annotation.class_id)
        .where(Annotation.deleted_at.is_(None))
        .where(Annotation.image_id.in_(
            select(Annotation.image_id).where(Annotation.opinion.is_(True), Annotation.deleted_at.is_(None))))
        .order_by(Annotation.id)
    ).all()  # fmt: skip
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return Votes(empty, [], np.empty((0, 0), dtype=np.int64), np.empty(0, dtype=bool), empty)
    reviewed = set(session.scalars(select(LabelReview.annotation_id)))
    first: dict[int, tuple] = {}  # image -> (rater key, name, position) of its latest non-review label
    opinions: dict[int, dict] = {}
    current: dict[int, int] = {}
    resolved: set[int] = set()
    for r in rows:
        key = r.user_id if r.user_id is not None else f"name:{r.annotator}"
        if r.opinion:
            opinions.setdefault(r.image_id, {})[key] = (r.annotator, r.position)
            continue
        if not r.superseded:
            current[r.image_id] = r.position
            if r.source == REVIEW_SOURCE or r.id in reviewed:
                resolved.add(r.image_id)
        if r.source != REVIEW_SOURCE:
            first[r.image_id] = (key, r.annotator, r.position)
    image_ids = np.array(sorted(opinions), dtype=np.int64)
    names: dict = {}
    for image_id in image_ids:
        if image_id in first:
            names[first[image_id][0]] = first[image_id][1]
        for key, (name, _) in opinions[image_id].items():
            names[key] = name
    column = {key: k for k, key in enumerate(names)}
    ratings = np.full((image_ids.size, len(column)), MISSING, dtype=np.int64)
    for i, image_id in enumerate(image_ids):
        if image_id in first:
            ratings[i, column[first[image_id][0]]] = first[image_id][2]
        for key, (_, position) in opinions[image_id].items():
            ratings[i, column[key]] = position
    return Votes(
        image_ids,
        list(names.values()),
        ratings,
        np.array([i in resolved for i in image_ids], dtype=bool),
        np.array([current.get(int(i), MISSING) for i in image_ids], dtype=np.int64),
    )


def training_labels(session: Session, labels: dict[int, int], n_classes: int) -> dict[int, int]:
    """``labels`` (image id -> class position of the current label) with the majority of the votes
    for images with second opinions; a tie (disputed, not yet reviewed) is left out."""
    votes = load_votes(session)
    if votes.image_ids.size == 0:
        return labels
    majority, _ = majority_labels(votes.ratings, n_classes)
    out = dict(labels)
    for image_id, label, resolved in zip(votes.image_ids.tolist(), majority.tolist(), votes.resolved, strict=True):
        if resolved or image_id not in out:  # a reviewer's word is final; an unlabeled image stays so
            continue
        if label == MISSING:
            del out[image_id]  # disputed: not trained on until a reviewer decides
        else:
            out[image_id] = label
    return out


def disputed_images(project: Project, limit: int | None = None) -> list[dict]:
    """Images whose votes are tied and that no reviewer has decided, oldest first: the votes and
    the tied classes."""
    classes = project.class_names()
    with project.sessions() as session:
        votes = load_votes(session)
        if votes.image_ids.size == 0:
            return []
        _, tied = majority_labels(votes.ratings, len(classes))
        rows = np.flatnonzero(tied & ~votes.resolved & (votes.current != MISSING))
        if limit is not None:
            rows = rows[:limit]
        paths = dict(
            session.execute(select(Image.id, Image.path).where(Image.id.in_(votes.image_ids[rows].tolist()))).all()
        )
    counts = label_counts(votes.ratings[rows], len(classes)) if rows.size else np.zeros((0, len(classes)))
    out = []
    for row, count in zip(rows, counts, strict=True):
        image_id = int(votes.image_ids[row])
        given = [(votes.raters[k], classes[int(c)]) for k, c in enumerate(votes.ratings[row]) if c != MISSING]
        top = count.max()
        out.append({
            "image_id": image_id, "path": paths.get(image_id, ""),
            "label": classes[int(votes.current[row])],
            "votes": [{"by": by, "label": label} for by, label in given],
            "tied": [classes[k] for k in np.flatnonzero(count == top)],
        })  # fmt: skip
    return out


def agreement_status(project: Project) -> dict:
    """What the dashboard, ``/api/status`` and ``status --json`` show of overlap and agreement.

    ``kappa``: Cohen's when the overlap images were labeled by exactly two people, Fleiss' otherwise,
    over the images with two votes or more (``kappa_images``). ``annotators``: each person's agreement
    with the majority of the *others* on the same images (their own vote left out, ties not counted),
    most agreeing first, with the images it rests on.
    """
    classes = project.class_names()
    n_classes = max(len(classes), 1)
    with project.sessions() as session:
        share, per_image = overlap_settings(session)
        votes = load_votes(session)
        pending = pending_opinions(session, share, per_image)
    ratings = votes.ratings
    measure, kappa, n = None, None, 0
    if votes.image_ids.size:
        if ratings.shape[1] == 2:
            measure = "cohen"
            value, n = cohen_kappa(ratings[:, 0], ratings[:, 1], n_classes)
        else:
            measure = "fleiss"
            value, n = fleiss_kappa(label_counts(ratings, n_classes))
        kappa = None if np.isnan(value) else float(value)
    people = []
    for person in agreement_with_majority(ratings, n_classes) if ratings.size else []:
        people.append({
            "name": votes.raters[person.annotator],
            "agreement": None if np.isnan(person.agreement) else float(person.agreement),
            "n_images": person.n_images,
        })  # fmt: skip
    people.sort(key=lambda p: (p["agreement"] is None, -(p["agreement"] or 0.0), p["name"]))
    disputed = 0
    if votes.image_ids.size:
        _, tied = majority_labels(ratings, n_classes)
        disputed = int((tied & ~votes.resolved & (votes.current != MISSING)).sum())
    return {
        "overlap": share,
        "labels_per_overlap_image": per_image,
        "images_with_opinions": int(votes.image_ids.size),
        "measure": measure,
        "kappa": kappa,
        "kappa_images": int(n),
        "annotators": people,
        "disputed": disputed,
        "pending_opinions": pending,
    }
