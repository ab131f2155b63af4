"""Exports of the current labels: CSV, JSON, COCO-style JSON, and an ImageFolder copy."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from datetime import datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.ingest.objstore import ObjectPath, is_uri
from labelwise.project.project import Project
from labelwise.project.votes import training_labels
from labelwise.store.models import STATUS_MISSING, Annotation, Image, LabelClass

# ``flag`` is empty, or says why a label may not hold: "missing" (the file was not found by the
# last `labelwise add`).
COLUMNS = ["path", "label", "annotator", "time", "model_version", "strategy", "score", "flag"]
FORMATS = ("csv", "json", "coco", "label-studio")
# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a label).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` (OWASP's advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def labeled_rows(project: Project) -> list[dict]:
    """Every labeled image with its label: an overlap image's **majority** label (project/votes.py);
    a tied vote not yet settled by a reviewer is exported with an empty label and flag ``disputed``."""
    classes = project.class_names()
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Image.width, Image.height, LabelClass.name, LabelClass.position,
                   Annotation.annotator, Annotation.created_at, Annotation.model_version, Annotation.strategy,
                   Annotation.score, Image.status)
            .join(Annotation, Annotation.image_id == Image.id)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
            .where(Annotation.superseded.is_(False))
            .order_by(Image.path)
        ).all()  # fmt: skip
        # Overlap images: the majority of the votes, as training reads them; a tie is disputed.
        majority = training_labels(session, {r[0]: r[5] for r in rows}, len(classes))
    out = []
    for r in rows:
        position = majority.get(r[0], -1)
        flag = "missing" if r[11] == STATUS_MISSING else "disputed" if position < 0 else ""
        out.append({"image_id": r[0], "path": r[1], "width": r[2], "height": r[3],
                    "label": classes[position] if position >= 0 else "", "position": position,
                    "annotator": r[6], "time": r[7].isoformat() if r[7] else None, "model_version": r[8],
                    "strategy": r[9], "score": r[10], "flag": flag})  # fmt: skip
    return out


def labeled_count(project: Project) -> int:
    """How many images an export lists (either kind of project)."""
    if project.multi_label:
        from labelwise.project.multilabel_labels import label_set_rows

        return len(label_set_rows(project))
    return len(labeled_rows(project))


def export_text(project: Project, fmt: str) -> str:
    """The labels as ``csv``, ``json``, ``coco`` or ``label-studio`` (tasks with predictions) text."""
    if fmt not in FORMATS:
        raise LabelwiseError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "label-studio" and not project.multi_label:
        from labelwise.project.label_studio_files import export_label_studio  # it imports this module's layer

        return export_label_studio(project)
    if project.multi_label:
        from labelwise.project.multilabel_export import export_multilabel_text

        return export_multilabel_text(project, fmt, COLUMNS, spreadsheet_safe)
    rows = labeled_rows(project)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        # Only the CSV is opened in spreadsheets; JSON and COCO keep the exact names.
        writer.writerows({k: spreadsheet_safe(r[k]) for k in COLUMNS} for r in rows)
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps([{k: r[k] for k in COLUMNS} for r in rows], indent=2, ensure_ascii=False)
    classes = project.class_names()
    coco = {
        "info": {"description": f"labelwise export of {project.folder.name}",
                 "date_created": datetime.now().isoformat()},
        # A disputed image is listed, flagged, without an annotation.
        "images": [{"id": r["image_id"], "file_name": r["path"], "width": r["width"], "height": r["height"],
                    **({"disputed": True} if r["flag"] == "disputed" else {})} for r in rows],
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)],
        "annotations": [{"id": n + 1, "image_id": r["image_id"], "category_id": r["position"] + 1,
                         "annotator": r["annotator"]} for n, r in enumerate(r for r in rows if r["position"] >= 0)],
    }  # fmt: skip
    return json.dumps(coco, indent=2, ensure_ascii=False)


def _new_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``...: two exports in one second each get their own folder."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise LabelwiseError(f"exports: no free folder name next to {base}")


def export_image_folder(project: Project, target: Path | None = None) -> tuple[Path, int, int]:
    """Copy labeled images into ``class/`` sub-folders (hard links where the file system allows).

    Returns the folder, the number of images and how many of them are hard links.
    """
    if target is None:
        target = _new_folder(project.folder / "exports" / f"imagefolder-{datetime.now():%Y%m%d-%H%M%S}")
    else:
        target.mkdir(parents=True, exist_ok=False)
    if project.multi_label:
        raise LabelwiseError("imagefolder: a multi-label image belongs in several folders; export csv, json or coco")
    linked = 0
    rows = [r for r in labeled_rows(project) if r["position"] >= 0]  # a disputed image has no folder yet
    for r in rows:
        folder = target / r["label"].replace("/", "-")
        folder.mkdir(exist_ok=True)
        # The image id keeps names unique when two folders hold files of the same name.
        name = ObjectPath(r["path"]).name if is_uri(r["path"]) else PurePosixPath(r["path"]).name
        dest = folder / f"{r['image_id']}-{name}"
        if is_uri(r["path"]):  # an object store project: the object's bytes, fetched
            dest.write_bytes(ObjectPath(r["path"]).read_bytes())
            continue
        source = project.images_root / r["path"]
        try:
            os.link(source, dest)
            linked += 1
        except OSError:
            shutil.copy2(source, dest)
    return target, len(rows), linked
