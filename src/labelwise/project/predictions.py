"""Predictions of the user's own model, imported from CSV or JSON (``labelwise import-predictions``).

A row is ``path, class, probability``: the image (relative to the images root, or absolute inside
it), the class the user's model predicts, and its probability in [0, 1]. CSV needs a header naming
the columns (``path``/``image``/``file``, ``class``/``label``/``predicted``,
``probability``/``p``/``confidence``); JSON is a list of objects with those keys (or
``{"predictions": [...]}``). A path given several times keeps its most probable class (a top-k file).
Bad rows are refused with their line (CSV) or item number (JSON) and reason; paths not in the
project are listed as missing; the rest replace any earlier imported prediction of those images.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select

from labelwise.errors import LabelwiseError
from labelwise.project.labels import normalize_path
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Image, ImportedPrediction

PATH_KEYS = ("path", "image", "file")
CLASS_KEYS = ("class", "label", "predicted")
PROBABILITY_KEYS = ("probability", "p", "confidence")
CHUNK = 500


@dataclass
class PredictionImport:
    imported: int = 0
    errors: list[str] = field(default_factory=list)  # "FILE:LINE: reason"
    missing: list[str] = field(default_factory=list)  # paths not in the project


def _pick(keys: list[str], wanted: tuple[str, ...], where: str) -> str:
    found = [k for k in keys if k.strip().lower() in wanted]
    if len(found) != 1:
        raise LabelwiseError(f"{where}: expected one of the columns {'/'.join(wanted)}; got {keys!r}")
    return found[0]


def _rows(path: Path) -> list[tuple[str, object]]:
    """(where, record) for every row: where is ``FILE:LINE`` (CSV) or ``FILE:item N`` (JSON); a row
    that cannot be a record (wrong number of columns, not an object) comes as the reason, a string."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelwiseError(f"{path}: cannot read predictions: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelwiseError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
        if isinstance(data, dict):
            data = data.get("predictions")
        if not isinstance(data, list):
            raise LabelwiseError(f"{path}: expected a list of {{path, class, probability}} objects")
        not_object = "expected an object with path, class and probability; got {!r}"
        return [(f"{path}:item {n}", item if isinstance(item, dict) else not_object.format(item))
                for n, item in enumerate(data, 1)]  # fmt: skip
    lines = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1) if any(c.strip() for c in row)]
    if not lines:
        return []
    header = lines[0][1]
    for wanted in (PATH_KEYS, CLASS_KEYS, PROBABILITY_KEYS):
        _pick(header, wanted, f"{path}:1: header")  # a wrong header is wrong for every row: refuse the file
    out = []
    for n, row in lines[1:]:
        if len(row) != len(header):
            out.append((f"{path}:{n}", f"{len(row)} columns, the header has {len(header)}"))
        else:
            out.append((f"{path}:{n}", dict(zip(header, row, strict=True))))
    return out


def import_predictions(project: Project, file: str | Path) -> PredictionImport:
    """Import a file of ``path, class, probability`` predictions; see the module docstring."""
    file = Path(file)
    rows = _rows(file)
    report = PredictionImport()
    classes = set(project.class_names())
    best: dict[str, tuple[str, float, str]] = {}  # stored path -> (class, probability, where)
    for where, record in rows:
        if isinstance(record, str):
            report.errors.append(f"{where}: {record}")
            continue
        try:
            keys = [_pick(list(record), wanted, where) for wanted in (PATH_KEYS, CLASS_KEYS, PROBABILITY_KEYS)]
        except LabelwiseError as exc:
            report.errors.append(str(exc))
            continue
        raw_path, name, raw_p = record[keys[0]], record[keys[1]], record[keys[2]]
        try:
            p = float(raw_p)
        except (TypeError, ValueError):
            report.errors.append(f"{where}: probability {raw_p!r} is not a number")
            continue
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            report.errors.append(f"{where}: probability {raw_p!r} is not between 0 and 1")
            continue
        name = str(name).strip()
        if name not in classes:
            report.errors.append(f"{where}: class {name!r} is not a class of the project")
            continue
        try:
            key = normalize_path(project, str(raw_path).strip())
        except LabelwiseError as exc:
            report.errors.append(f"{where}: {exc}")
            continue
        if key not in best or p > best[key][1]:
            best[key] = (name, p, where)
    with project.sessions.begin() as session:
        ids = dict(session.execute(select(Image.path, Image.id).where(Image.status == STATUS_OK)).all())
        found = {key: value for key, value in best.items() if key in ids}
        report.missing = sorted(key for key in best if key not in ids)
        found_ids = [ids[k] for k in found]
        for start in range(0, len(found_ids), CHUNK):  # SQLite caps the parameters of one statement
            chunk = found_ids[start : start + CHUNK]
            session.execute(delete(ImportedPrediction).where(ImportedPrediction.image_id.in_(chunk)))
        for key, (name, p, _) in found.items():
            session.add(ImportedPrediction(image_id=ids[key], label=name, probability=p, source_file=str(file)))
        report.imported = len(found)
    return report


def imported_predictions(project: Project, image_ids: list[int] | None = None) -> dict[int, tuple[str, float]]:
    """image id -> (class, probability) of the user's model; only ``image_ids`` when given."""
    query = select(ImportedPrediction.image_id, ImportedPrediction.label, ImportedPrediction.probability)
    if image_ids is not None:
        query = query.where(ImportedPrediction.image_id.in_(image_ids))
    with project.sessions() as session:
        return {i: (label, p) for i, label, p in session.execute(query)}
