"""Exports of a multi-label project's labels: each image's set of classes.

- CSV: the columns of a single-label export; ``label`` holds the class names joined with ``;`` (an
  empty cell: the explicit "none of the classes").
- JSON: ``label`` is a list of class names (``[]``: none).
- COCO: one image-level annotation per class of the image (no bounding box), so an image's
  categories are the annotations that point at it; an image labeled "none" is listed with none.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from labelwise.errors import LabelwiseError
from labelwise.project.multilabel_labels import LabelSetRow, label_set_rows
from labelwise.project.project import Project

SEPARATOR = ";"  # a class name holding it is refused by the CSV export (_check_names)


def _fields(row: LabelSetRow) -> dict:
    when = row.time.isoformat() if row.time else None
    return {"path": row.path, "annotator": row.annotator, "time": when, "model_version": row.model_version,
            "strategy": row.strategy, "score": row.score, "flag": row.flag}  # fmt: skip


def _check_names(project: Project) -> None:
    clash = [name for name in project.class_names() if SEPARATOR in name]
    if clash:
        raise LabelwiseError(
            f"class {clash[0]!r}: holds {SEPARATOR!r}, which separates the classes of a multi-label CSV; "
            "rename it (labelwise classes rename) or export JSON"
        )


def export_multilabel_text(project: Project, fmt: str, columns: list[str], safe) -> str:
    """The current label sets as ``csv``, ``json`` or ``coco`` text; ``columns`` and ``safe`` are the
    single-label export's columns and spreadsheet guard, so both kinds of CSV read alike."""
    rows = label_set_rows(project)
    if fmt == "csv":
        _check_names(project)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            values = {**_fields(row), "label": SEPARATOR.join(row.labels)}
            writer.writerow({k: safe(values[k]) for k in columns})
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps([{**_fields(r), "label": r.labels} for r in rows], indent=2, ensure_ascii=False)
    if fmt == "coco":
        annotations = [
            {"image_id": r.image_id, "category_id": p + 1, "annotator": r.annotator} for r in rows for p in r.positions
        ]
        coco = {
            "info": {"description": f"labelwise multi-label export of {project.folder.name}",
                     "date_created": datetime.now().isoformat()},
            "images": [{"id": r.image_id, "file_name": r.path, "width": r.width, "height": r.height}
                       for r in rows],
            "categories": [{"id": i + 1, "name": name} for i, name in enumerate(project.class_names())],
            "annotations": [{"id": n + 1, **a} for n, a in enumerate(annotations)],
        }  # fmt: skip
        return json.dumps(coco, indent=2, ensure_ascii=False)
    raise LabelwiseError(f"format: {fmt!r} is not available for a multi-label project; use csv, json or coco")
