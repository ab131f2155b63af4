"""Labels of a multi-label project: each image carries a set of classes, possibly empty.

A multi-label label is an :class:`~labelwise.store.models.Annotation` row like any other (who, when,
source, superseded, deleted), with ``class_id`` NULL, and one :class:`AnnotationClass` row per class
of its set. An annotation with no such row is an explicit "none of the classes", which is not the
same as no label at all: the image is labeled, a model trains on it as negative for every class.
Because the annotation row is the same, the queue (leases, late labels), undo and the history need
nothing of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.project.annotations import new_current_annotation
from labelwise.project.class_lookup import class_named
from labelwise.project.project import Project
from labelwise.store.models import STATUS_MISSING, Annotation, AnnotationClass, Image, LabelClass

NONE_NAME = ""  # how a CSV cell or a command-line argument spells "none of the classes"


def require_kind(project: Project, multi_label: bool, what: str) -> None:
    """Refuse ``what`` (a field or a command) when the project is not of the kind it needs."""
    if project.multi_label != multi_label:
        need = "a list of class names" if project.multi_label else "one class name"
        raise LabelwiseError(f"{what}: this is a {project.kind} project, whose label is {need}")


def refuse_on_multi_label(
    project: Project, what: str, *, why: str = "it gives one class per image", hint: str = ""
) -> None:
    """Refuse a single-label operation (one class per image) on a multi-label project, naming it,
    why, and (``hint``) what to do instead."""
    if project.multi_label:
        raise LabelwiseError(f"{what}: not available on a multi-label project ({why}){'; ' + hint if hint else ''}")


def resolve_label_set(session: Session, names: list[str], field: str = "label") -> list[LabelClass]:
    """The classes named by ``names``, in class order; refuses an unknown, retired or repeated name."""
    if isinstance(names, str) or not isinstance(names, list | tuple):
        raise LabelwiseError(f"{field}: expected a list of class names, got {type(names).__name__}")
    seen: set[str] = set()
    classes = []
    for name in names:
        if not isinstance(name, str):
            raise LabelwiseError(f"{field}: expected class names, got {name!r}")
        if name in seen:
            raise LabelwiseError(f"{field}: class {name!r} is given twice")
        seen.add(name)
        classes.append(class_named(session, name, field=field))
    return sorted(classes, key=lambda c: c.position)


def add_label_set(session: Session, image: Image, classes: list[LabelClass], **who) -> Annotation:
    """Label ``image`` with the set ``classes`` (empty: none of them); ``who``: see
    :func:`~labelwise.project.annotations.new_current_annotation`."""
    annotation = new_current_annotation(session, image, None, **who)
    session.flush()  # its id, for the class rows
    session.add_all(AnnotationClass(annotation_id=annotation.id, class_id=cls.id) for cls in classes)
    return annotation


def split_names(text: str) -> list[str]:
    """``"cat;dog"`` -> ``["cat", "dog"]``; an empty text is the empty set (explicit none). An empty
    part (``"cat;"``, ``"cat;;dog"``) is refused by name, not looked up as a class called ''."""
    if not text.strip():
        return []
    parts = [part.strip() for part in text.split(";")]
    if "" in parts:
        raise LabelwiseError(f"label {text!r}: an empty class name (a stray ';'?)")
    return parts


def label_image_set(project: Project, path: str, names: list[str], *, annotator: str = "cli") -> None:
    """The command line's ``labelwise label`` on a multi-label project."""
    from labelwise.project.labels import _image_by_path

    require_kind(project, True, "label")
    with project.sessions.begin() as session:
        image = _image_by_path(session, project, path)
        add_label_set(session, image, resolve_label_set(session, names), annotator=annotator, source="cli")


def label_sets_of(session: Session, annotation_ids: list[int]) -> dict[int, list[int]]:
    """annotation id -> class positions of its set (ascending; empty for none)."""
    out: dict[int, list[int]] = {a: [] for a in annotation_ids}
    if not annotation_ids:
        return out
    rows = session.execute(
        select(AnnotationClass.annotation_id, LabelClass.position)
        .join(LabelClass, LabelClass.id == AnnotationClass.class_id)
        .where(AnnotationClass.annotation_id.in_(annotation_ids))
        .order_by(LabelClass.position)
    )
    for annotation_id, position in rows:
        out[annotation_id].append(position)
    return out


def set_text(names: list[str]) -> str:
    """A label set as display text: "Bag; Coat", or "none" for the explicit empty set."""
    return "; ".join(names) or "none"


def set_text_of(session: Session, annotation_id: int) -> str:
    """The display text of one multi-label annotation's set, in class order."""
    names = session.scalars(
        select(LabelClass.name)
        .join(AnnotationClass, AnnotationClass.class_id == LabelClass.id)
        .where(AnnotationClass.annotation_id == annotation_id)
        .order_by(LabelClass.position)
    ).all()
    return set_text(list(names))


def is_current_label_set() -> ColumnElement[bool]:
    """The rows of :class:`Annotation` that are current multi-label labels (their set, possibly empty,
    is in :class:`AnnotationClass`; a single-label label has its ``class_id``)."""
    return and_(Annotation.superseded.is_(False), Annotation.class_id.is_(None))


def current_label_sets(session: Session, image_ids: list[int] | None = None) -> dict[int, list[int]]:
    """image id -> class positions of its current multi-label label (empty list: explicit none), for
    every labeled image or those of ``image_ids``."""
    query = select(Annotation.id, Annotation.image_id).where(is_current_label_set())
    if image_ids is not None:
        query = query.where(Annotation.image_id.in_(image_ids))
    current = dict(session.execute(query).all())
    sets = label_sets_of(session, list(current))
    return {image_id: sets[annotation_id] for annotation_id, image_id in current.items()}


def label_matrix(image_ids: np.ndarray, sets: dict[int, list[int]], n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool rows that are labeled ``(N,)`` bool, and the label matrix ``(N, K)`` in {0, 1} (0 where unlabeled)."""
    index = {int(i): k for k, i in enumerate(image_ids)}
    labeled = np.zeros(len(image_ids), dtype=bool)
    Y = np.zeros((len(image_ids), n_classes), dtype=np.int8)
    for image_id, positions in sets.items():
        row = index.get(image_id)
        if row is None:
            continue  # no longer in the pool (missing, broken)
        labeled[row] = True
        Y[row, positions] = 1
    return labeled, Y


@dataclass(frozen=True)
class LabelSetRow:
    """One image's current multi-label label, for exports."""

    image_id: int
    path: str
    width: int | None
    height: int | None
    labels: list[str]  # class names in class order; empty: explicit none
    positions: list[int]
    annotator: str
    time: datetime | None
    model_version: int | None
    strategy: str | None
    score: float | None
    flag: str


def label_set_rows(project: Project) -> list[LabelSetRow]:
    """Every image with a current multi-label label, by path."""
    names = project.class_names()
    with project.sessions() as session:
        rows = session.execute(
            select(Annotation.id, Image.id, Image.path, Image.width, Image.height, Annotation.annotator,
                   Annotation.created_at, Annotation.model_version, Annotation.strategy, Annotation.score,
                   Image.status)
            .join(Image, Image.id == Annotation.image_id)
            .where(is_current_label_set())
            .order_by(Image.path)
        ).all()  # fmt: skip
        sets = label_sets_of(session, [r[0] for r in rows])
    return [
        LabelSetRow(image_id=r[1], path=r[2], width=r[3], height=r[4], labels=[names[p] for p in sets[r[0]]],
                    positions=sets[r[0]], annotator=r[5], time=r[6], model_version=r[7], strategy=r[8],
                    score=r[9], flag="missing" if r[10] == STATUS_MISSING else "")
        for r in rows
    ]  # fmt: skip


def label_texts(project: Project, image_ids: list[int]) -> dict[int, str]:
    """image id -> its current set as display text ("Bag; Coat", "none"), for the images labeled."""
    names = project.class_names()
    with project.sessions() as session:
        sets = current_label_sets(session, image_ids)
    return {image_id: set_text([names[p] for p in positions]) for image_id, positions in sets.items()}
