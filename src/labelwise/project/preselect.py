"""One-key accept: the model's top class, pre-selected on the annotate page when it is likely enough,
and what became of those pre-selections (accepted, and later corrected)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from labelwise.project.predictions import imported_predictions
from labelwise.project.project import Project
from labelwise.store.models import Annotation


def preselection(top: Sequence[tuple[str, float]], threshold: float | None) -> str | None:
    """The class to pre-select from a model's top classes (most likely first), or ``None``.

    ``None`` when pre-selection is off (``threshold`` is None), when the top probability is under
    ``threshold``, or when the model knows fewer than two classes: a one-class "model" is always
    sure and says nothing.
    """
    if threshold is None or len(top) < 2:
        return None
    name, p = top[0]
    return name if p >= threshold else None


def preselections(
    project: Project, tops: dict[int, Sequence[tuple[str, float]]], threshold: float | None
) -> dict[int, str | None]:
    """image id -> the class to pre-select. The user's own model (``labelwise import-predictions``)
    speaks first for the images it predicted: it was trained for this task and knows every class;
    the project's model (``tops``: its top classes per image) for the others."""
    theirs = imported_predictions(project, list(tops)) if threshold is not None else {}
    return {
        image_id: (theirs[image_id][0] if theirs[image_id][1] >= threshold else None)
        if image_id in theirs
        else preselection(top, threshold)
        for image_id, top in tops.items()
    }


def preselection_stats(project: Project) -> dict[str, float | int | None]:
    """How the pre-selections fared, over labels not undone.

    ``offered``: labels given while a class was pre-selected; ``accepted``: of those, the ones whose
    label is the pre-selected class; ``accepted_corrected``: accepted labels that a later label of the
    same image replaced with another class (a reviewer or the annotator fixing a too-quick Enter).
    """
    with project.sessions() as session:
        rows = session.execute(
            select(Annotation.id, Annotation.image_id, Annotation.class_id, Annotation.preselect_accepted)
            .where(Annotation.deleted_at.is_(None))
            .order_by(Annotation.id)
        ).all()
    offered = [r for r in rows if r.preselect_accepted is not None]
    accepted = [r for r in offered if r.preselect_accepted]
    last_class: dict[int, int] = {}
    for r in rows:  # id order: the last one seen is the image's current label
        last_class[r.image_id] = r.class_id
    corrected = [r for r in accepted if last_class[r.image_id] != r.class_id]
    return {
        "offered": len(offered),
        "accepted": len(accepted),
        "acceptance_rate": len(accepted) / len(offered) if offered else None,
        "accepted_corrected": len(corrected),
        "corrected_rate": len(corrected) / len(accepted) if accepted else None,
    }
