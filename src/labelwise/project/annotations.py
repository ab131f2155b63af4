"""One new current label of an image: the row both kinds of label start from."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from labelwise.store.models import Annotation, Image


def new_current_annotation(
    session: Session,
    image: Image,
    class_id: int | None,
    *,
    annotator: str,
    source: str,
    user_id: int | None = None,
    model_version: int | None = None,
    strategy: str | None = None,
    score: float | None = None,
) -> Annotation:
    """Add ``image``'s new current annotation; its earlier label is superseded, not deleted.

    class_id: the class of a single-label label, ``None`` for a multi-label one (its set is stored
    in ``annotation_classes``). A changed file waiting for review has now been looked at."""
    session.execute(
        update(Annotation)
        .where(Annotation.image_id == image.id, Annotation.superseded.is_(False))
        .values(superseded=True)
    )
    annotation = Annotation(
        image_id=image.id, class_id=class_id, annotator=annotator, source=source, user_id=user_id,
        model_version=model_version, strategy=strategy, score=score,
    )  # fmt: skip
    session.add(annotation)
    image.review_reason = None
    return annotation
