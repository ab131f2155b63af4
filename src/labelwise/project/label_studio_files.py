"""Label Studio's export JSON as a label source, and labelwise's ranking as Label Studio tasks.

For teams that import and export files instead of running ``labelwise label-studio sync``.
Label Studio names an uploaded file ``<8 hex>-<original name>``; local-files storage keeps the
path in ``?d=``. Tasks are matched to labelwise images by that path, else by the file name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.project.label_studio import annotator_email, choice_of, latest_annotation
from labelwise.project.labels import LabelImport, add_annotation
from labelwise.project.multilabel_labels import refuse_on_multi_label
from labelwise.project.project import Project
from labelwise.project.training import Ranking, predictions_path, ranking_path
from labelwise.store.models import STATUS_OK, Image, LabelClass

UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def is_label_studio_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _candidates(url: str) -> list[str]:
    parsed = urlparse(url)
    if "d" in parse_qs(parsed.query):
        return [unquote(parse_qs(parsed.query)["d"][0])]
    name = PurePosixPath(unquote(parsed.path)).name
    return [unquote(parsed.path).lstrip("/"), name, UPLOAD_PREFIX.sub("", name)]


def import_labels_label_studio(project: Project, json_path: str | Path, *, add_classes: bool = False) -> LabelImport:
    """Import the newest choosing annotation of each task of a Label Studio JSON export."""
    json_path = Path(json_path)
    refuse_on_multi_label(project, f"{json_path}: a Label Studio import")
    try:
        tasks = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelwiseError(f"{json_path}: cannot read a Label Studio export: {exc}") from None
    if not isinstance(tasks, list):
        raise LabelwiseError(f"{json_path}: a Label Studio JSON export is a list of tasks")
    report = LabelImport()
    wanted = []
    for number, task in enumerate(tasks):
        where = f"{json_path}: task {task.get('id', number) if isinstance(task, dict) else number}"
        if not isinstance(task, dict):
            report.errors.append(f"{where}: not a task object")
            continue
        annotation = latest_annotation(task)
        if annotation is None:
            continue
        urls = [v for v in (task.get("data") or {}).values() if isinstance(v, str)]
        if len(urls) != 1:
            report.errors.append(f"{where}: expected one image URL in data, found {len(urls)}")
            continue
        wanted.append((where, urls[0], choice_of(annotation), annotator_email(annotation, {})))
    if add_classes:
        project.add_classes(sorted({w[2] for w in wanted}))
    with project.sessions.begin() as session:
        images = session.execute(select(Image.id, Image.path).where(Image.status == STATUS_OK)).all()
        by_path = {p: i for i, p in images}
        by_name: dict[str, list[int]] = {}
        for i, p in images:
            by_name.setdefault(PurePosixPath(p).name, []).append(i)
        classes = {c.name: c for c in session.scalars(select(LabelClass))}
        for where, url, name, who in wanted:
            image_id = None
            for candidate in _candidates(url):
                if candidate in by_path:
                    image_id = by_path[candidate]
                    break
                if len(by_name.get(candidate, [])) == 1:
                    image_id = by_name[candidate][0]
                    break
            if image_id is None:
                report.errors.append(f"{where}: image {url!r} is not in the project (or its name is ambiguous)")
                continue
            if name not in classes:
                known = ", ".join(classes) or "none yet"
                report.errors.append(f"{where}: class {name!r} is unknown; the project's classes are: {known}")
                continue
            add_annotation(session, session.get(Image, image_id), classes[name],
                           annotator=f"label-studio:{who}", source="label-studio")  # fmt: skip
            report.imported += 1
    return report


def export_label_studio(project: Project) -> str:
    """Every image as a Label Studio task (local-files URL), with its label as an annotation and
    labelwise's prediction; the prediction's score ascends in ranking order (lowest = label first)."""
    ranking = Ranking.load(ranking_path(project))
    version = f"labelwise-v{ranking.version}" if ranking else None
    rank = {e.image_id: (n, e) for n, e in enumerate(ranking.entries)} if ranking else {}
    classes = project.class_names()
    predicted: dict[int, str] = {}
    try:
        saved = np.load(predictions_path(project))
        predicted = {int(i): classes[int(k)] for i, k in zip(saved["image_ids"], saved["predicted"], strict=True)}
    except (FileNotFoundError, IndexError, KeyError):
        pass

    def result(name: str) -> list[dict[str, Any]]:
        return [{"from_name": "choice", "to_name": "image", "type": "choices", "value": {"choices": [name]}}]

    with project.sessions() as session:
        from labelwise.project.labels import current_labels

        labels = current_labels(session)
        images = session.execute(select(Image.id, Image.path).where(Image.status == STATUS_OK).order_by(Image.id))
        tasks = []
        n_ranked = max(len(rank), 1)
        for image_id, path in images.all():
            task: dict[str, Any] = {"data": {"image": f"/data/local-files/?d={path}", "labelwise_id": image_id}}
            if image_id in labels:
                task["annotations"] = [{"result": result(classes[labels[image_id]])}]
            elif version and image_id in predicted:
                position = rank.get(image_id, (None,))[0]
                score = 1.0 if position is None else position / n_ranked
                task["predictions"] = [
                    {"model_version": version, "score": score, "result": result(predicted[image_id])}
                ]
            tasks.append(task)
    return json.dumps(tasks, indent=2, ensure_ascii=False)
