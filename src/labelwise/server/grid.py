"""The image grid: filter and sort the project's images with the latest model's predictions."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select

from labelwise.errors import LabelwiseError
from labelwise.project.labels import current_labels
from labelwise.project.near_duplicates import group_members, near_duplicate_counts
from labelwise.project.predictions import imported_predictions
from labelwise.project.project import Project
from labelwise.project.training import Ranking, predictions_path
from labelwise.store.models import Image

SORTS = ("path", "score", "confidence")
MAX_SEARCH = 200  # characters of a file name search: a path fragment, not a document


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
    search: str | None = None,
    group: int | None = None,
    offset: int = 0,
    limit: int = 60,
) -> dict:
    """One page of the grid: ``total`` matching images, ``items`` from ``offset``, and ``notice``, a
    sentence when the sort asked for cannot be honoured (then the order is by path). ``group``: only
    the near-duplicate group of that image id (the image alone when it has none); each item says how
    many near-duplicates it has (``near_duplicates``)."""
    if search is not None and len(search) > MAX_SEARCH:
        raise LabelwiseError(f"q: a file name search is at most {MAX_SEARCH} characters")
    if status not in ("ok", "broken", "duplicate"):
        raise LabelwiseError(f"status: {status!r} is not ok, broken or duplicate")
    if sort not in SORTS:
        raise LabelwiseError(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
    classes = project.class_names()
    for name, value in (("label", label), ("predicted", predicted)):
        if value and value not in classes:
            raise LabelwiseError(f"{name}: unknown class {value!r}")
    with project.sessions() as session:
        query = select(Image.id, Image.path, Image.reason).where(Image.status == status).order_by(Image.path)
        if search and search.strip():
            # A plain substring of the path, case-insensitive; LIKE's wildcards in it are literal.
            pattern = search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(Image.path).like(f"%{pattern}%", escape="\\"))
        if group is not None:
            query = query.where(Image.id.in_(group_members(project, group)))
        rows = session.execute(query).all()
        labels = current_labels(session)
    preds = _predictions(project)
    theirs = imported_predictions(project)
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
            # The user's own model (labelwise import-predictions), shown beside the project's.
            "imported_predicted": theirs[image_id][0] if image_id in theirs else None,
            "imported_probability": theirs[image_id][1] if image_id in theirs else None,
        }  # fmt: skip
        if labeled is not None and (item["label"] is not None) != labeled:
            continue
        if label and item["label"] != label:
            continue
        if predicted and item["predicted"] != predicted:
            continue
        items.append(item)
    notice = None
    if sort == "score" and not any(i["score"] is not None for i in items):
        # Say it instead of silently showing path order.
        notice = (
            "sort by score: no model has ranked the images yet, so they are shown by path"
            if not preds
            else f"sort by score: the strategy {ranking.strategy if ranking else 'in use'!r} gives no per-image "
            "scores, so the images are shown by path (choose e.g. margin on the dashboard to rank by score)"
        )
    elif sort == "score":
        items.sort(key=lambda i: -(i["score"] if i["score"] is not None else -np.inf))
    elif sort == "confidence":
        items.sort(key=lambda i: i["confidence"] if i["confidence"] is not None else np.inf)
    page = items[offset : offset + limit]
    counts = near_duplicate_counts(project, [i["image_id"] for i in page])
    for item in page:
        item["near_duplicates"] = counts[item["image_id"]]
    return {"total": len(items), "offset": offset, "items": page, "notice": notice}
