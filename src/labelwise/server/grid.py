"""The image grid: filter and sort the project's images with the latest model's predictions."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.project.labels import current_labels
from labelwise.project.project import Project
from labelwise.project.training import Ranking, predictions_path
from labelwise.store.models import Image

SORTS = ("path", "score", "confidence")


def _predictions(project: Project) -> dict[int, tuple[int, float, float]]:
    try:
        data = np.load(predictions_path(project))
    except FileNotFoundError:
        return {}
    return {
        int(i): (int(p), float(c), float(s))
        for i, p, c, s in zip(data["image_ids"], data["predicted"], data["confidence"], data["score"], strict=True)
    }


def image_grid(
    project: Project,
    ranking: Ranking | None,
    *,
    status: str = "ok",
    label: str | None = None,
    labeled: bool | None = None,
    predicted: str | None = None,
    sort: str = "path",
    offset: int = 0,
    limit: int = 60,
) -> dict:
    if status not in ("ok", "broken", "duplicate"):
        raise LabelwiseError(f"status: {status!r} is not ok, broken or duplicate")
    if sort not in SORTS:
        raise LabelwiseError(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
    classes = project.class_names()
    for name, value in (("label", label), ("predicted", predicted)):
        if value and value not in classes:
            raise LabelwiseError(f"{name}: unknown class {value!r}")
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Image.reason).where(Image.status == status).order_by(Image.path)
        ).all()
        labels = current_labels(session)
    preds = _predictions(project)
    items = []
    for image_id, path, reason in rows:
        position = labels.get(image_id)
        pred = preds.get(image_id)
        item = {
            "image_id": image_id, "path": path, "reason": reason,
            "label": None if position is None else classes[position],
            "predicted": None if pred is None else classes[pred[0]],
            "confidence": None if pred is None else pred[1],
            "score": None if pred is None or np.isnan(pred[2]) else pred[2],
        }  # fmt: skip
        if labeled is not None and (item["label"] is not None) != labeled:
            continue
        if label and item["label"] != label:
            continue
        if predicted and item["predicted"] != predicted:
            continue
        items.append(item)
    if sort == "score":
        items.sort(key=lambda i: -(i["score"] if i["score"] is not None else -np.inf))
    elif sort == "confidence":
        items.sort(key=lambda i: i["confidence"] if i["confidence"] is not None else np.inf)
    return {"total": len(items), "offset": offset, "items": items[offset : offset + limit]}
