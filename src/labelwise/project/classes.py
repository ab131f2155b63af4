"""Fix the class list: rename, merge, retire (and restore) a class, with the history kept.

Annotations point at class ids, so a rename is one row and every export follows the new name at
once. A merge supersedes each current label of the merged class with a copy in the class it joins
(the old rows stay, superseded, as the label history). A class keeps its position (its column of
probabilities) for ever: a retired class is only no longer offered for new labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labelwise.project.class_lookup import class_named
from labelwise.project.multilabel_labels import refuse_on_multi_label
from labelwise.project.project import Project, check_class_name, check_new_class_name
from labelwise.project.queue import ConflictError, NotFoundError
from labelwise.store.models import Annotation, AnnotationClass, ClassChange, LabelClass, Lease


class ClassNotFoundError(NotFoundError):
    """No class of that name."""


class ClassConflictError(ConflictError):
    """The change clashes with the classes as they are (a name taken, a class retired)."""


@dataclass(frozen=True)
class ClassInfo:
    name: str
    position: int
    retired: bool
    labels: int  # current labels of the class


def _get(session: Session, name: str) -> LabelClass:
    return class_named(session, name.strip(), field="class", retired_ok=True, error=ClassNotFoundError)


def list_classes(project: Project) -> list[ClassInfo]:
    with project.sessions() as session:
        if project.multi_label:  # a class counts every current set that holds it
            query = (
                select(AnnotationClass.class_id, func.count())
                .join(Annotation, Annotation.id == AnnotationClass.annotation_id)
                .where(Annotation.superseded.is_(False))
                .group_by(AnnotationClass.class_id)
            )
        else:
            query = (
                select(Annotation.class_id, func.count())
                .where(Annotation.superseded.is_(False))
                .group_by(Annotation.class_id)
            )
        counts = dict(session.execute(query).all())
        return [
            ClassInfo(c.name, c.position, c.retired, int(counts.get(c.id, 0)))
            for c in session.scalars(select(LabelClass).order_by(LabelClass.position))
        ]


def active_class_names(project: Project) -> list[str]:
    """The classes offered for labeling, in position order (retired ones left out)."""
    with project.sessions() as session:
        return list(
            session.scalars(select(LabelClass.name).where(LabelClass.retired.is_(False)).order_by(LabelClass.position))
        )


def add_class(project: Project, name: str, by: str) -> str:
    """Add a class, or put a retired one back in service: ``"added"``, ``"restored"``, or ``""``
    when it is offered already."""
    name = check_class_name(name)
    with project.sessions.begin() as session:
        cls = session.scalar(select(LabelClass).where(LabelClass.name == name))
        if cls is not None:
            if not cls.retired:
                return ""
            cls.retired = False
            session.add(ClassChange(action="restore", class_id=cls.id, old_name=name, labels_moved=0, changed_by=by))
            return "restored"
    project.add_classes([name])
    return "added"


def rename_class(project: Project, old: str, new: str, by: str) -> None:
    """Give a class a new name; its labels, audit predictions and open leases follow."""
    new = check_new_class_name(new)
    with project.sessions.begin() as session:
        cls = _get(session, old)
        if new == cls.name:
            raise ClassConflictError(f"name: class {cls.name!r} has that name already")
        if session.scalar(select(LabelClass.id).where(LabelClass.name == new)) is not None:
            raise ClassConflictError(f"name: class {new!r} exists already; merge into it instead of renaming")
        old_name = cls.name
        cls.name = new
        # Audit predictions are stored by name: the same class under its new name, not a miss.
        _rename_predictions(session, old_name, new)
        session.add(ClassChange(action="rename", class_id=cls.id, old_name=old_name, new_name=new, labels_moved=0,
                                changed_by=by))  # fmt: skip


def merge_classes(project: Project, source: str, target: str, by: str) -> int:
    """Move every current label of ``source`` to ``target`` and retire ``source``; returns how many
    labels moved. Each moved label keeps its annotator, time and audit record."""
    refuse_on_multi_label(project, "merge")
    with project.sessions.begin() as session:
        src, dst = _get(session, source), _get(session, target)
        if src.id == dst.id:
            raise ClassConflictError(f"into: cannot merge class {src.name!r} into itself")
        if dst.retired:
            raise ClassConflictError(f"into: class {dst.name!r} is retired; restore it first (classes add)")
        moving = list(
            session.scalars(select(Annotation).where(Annotation.class_id == src.id, Annotation.superseded.is_(False)))
        )
        for old in moving:
            old.superseded = True
            session.add(
                Annotation(
                    image_id=old.image_id, class_id=dst.id, annotator=old.annotator, source="merge",
                    created_at=old.created_at, model_version=old.model_version,
                    strategy=old.strategy, score=old.score, audit=old.audit, predicted=old.predicted,
                    predicted_p=old.predicted_p,
                )
            )  # fmt: skip
        # A prediction of the merged class is, in the classes as they are now, a prediction of the target.
        _rename_predictions(session, src.name, dst.name)
        src.retired = True
        session.add(ClassChange(action="merge", class_id=src.id, old_name=src.name, new_name=dst.name,
                                labels_moved=len(moving), changed_by=by))  # fmt: skip
        return len(moving)


def retire_class(project: Project, name: str, by: str) -> None:
    """No longer offer ``name`` for labeling; its labels stay, visible and exported."""
    with project.sessions.begin() as session:
        cls = _get(session, name)
        if cls.retired:
            raise ClassConflictError(f"class {cls.name!r}: retired already")
        cls.retired = True
        session.add(ClassChange(action="retire", class_id=cls.id, old_name=cls.name, labels_moved=0, changed_by=by))


def class_history(project: Project, limit: int = 50) -> list[dict]:
    with project.sessions() as session:
        rows = session.scalars(select(ClassChange).order_by(ClassChange.id.desc()).limit(limit))
        return [
            {"action": r.action, "old_name": r.old_name, "new_name": r.new_name, "labels_moved": r.labels_moved,
             "by": r.changed_by, "at": r.changed_at.isoformat()}
            for r in rows
        ]  # fmt: skip


def _rename_predictions(session: Session, old: str, new: str) -> None:
    for table in (Annotation, Lease):
        session.execute(update(table).where(table.predicted == old).values(predicted=new))
