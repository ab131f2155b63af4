"""Mirror a Label Studio classification project and drive its queue with labelwise's ranking.

One pass: read the project's labeling config (class names), list the tasks changed since the last
pass (:mod:`labelwise.project.label_studio_tasks`; every task on the first), fetch every new task's image into the
project's images folder and ingest it, import the annotations as labels (provenance
``label-studio:<email>``; relabels and deletions supersede, so history is kept), retrain when the
schedule says so, and write predictions of ``model_version = labelwise-v<N>-<mirror id>`` whose ``score``
ascends in ranking order. With the project's sampling set to "Uncertainty sampling", Label Studio
then serves the lowest score first: labelwise's most informative image, its predicted class
pre-selected. Everything goes through Label Studio's API; nothing needs an inbound connection.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select, update

from labelwise.errors import LabelwiseError
from labelwise.paths import atomic_write
from labelwise.project.ingest import ingest_folder
from labelwise.project.label_studio_api import (
    ClassificationConfig,
    LabelStudioClient,
    LabelStudioError,
    parse_label_config,
)
from labelwise.project.label_studio_tasks import (
    Listing,
    annotations_of,
    list_tasks,
    next_watermark,
    parse_time,
    task_count,
)
from labelwise.project.labels import add_annotation
from labelwise.project.multilabel_labels import refuse_on_multi_label
from labelwise.project.project import CONFIG_NAME, Project
from labelwise.project.settings import get_settings
from labelwise.project.training import Ranking, train_and_rank
from labelwise.store.models import STATUS_OK, Annotation, Image, LabelClass

SOURCE = "label-studio"
STATE_NAME = "label-studio.json"
IMAGES_FOLDER = "label-studio-images"
SMALL_POOL = 1000  # up to this many images, every unlabeled task gets a prediction
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class SyncReport:
    tasks: int = 0
    fetched: int = 0
    labels_changed: int = 0
    labels_removed: int = 0
    changed: int = 0  # tasks new or changed since the last pass (all of them on a first pass)
    classes_added: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (task id, why)
    retrained: bool = False
    model_version: str | None = None
    predictions: int = 0
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        text = (
            f"{self.tasks} tasks ({self.changed} new or changed), {self.fetched} images fetched, "
            f"{self.labels_changed} labels new or changed, "
            f"{self.labels_removed} removed, {len(self.skipped)} skipped"
        )
        if self.classes_added:
            text += f"; classes added: {', '.join(self.classes_added)}"
        if self.retrained:
            text += f"; retrained: {self.model_version}, {self.predictions} predictions written"
        return text + f" ({self.seconds:.1f} s)"


def choice_of(annotation: dict[str, Any], config: ClassificationConfig | None = None) -> str | None:
    """The class an annotation chose, or ``None`` (cancelled, or empty result)."""
    if annotation.get("was_cancelled"):
        return None
    for item in annotation.get("result") or []:
        if item.get("type") != "choices":
            continue
        if config is not None and item.get("from_name") != config.choice_name:
            continue
        choices = (item.get("value") or {}).get("choices") or []
        if choices:
            return str(choices[0])
    return None


def latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    """The task's newest annotation that chose a class; newer edits win over older annotations."""
    usable = [a for a in task.get("annotations") or [] if choice_of(a) is not None]
    if not usable:
        return None
    return max(usable, key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id") or 0))


def annotator_email(annotation: dict[str, Any], emails: dict[int, str]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id"))
    return emails.get(who, str(who)) if who is not None else "unknown"


class _State:
    """What the last pass saw, in ``label-studio.json``: task -> local image, tasks that failed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}
        self.tasks: dict[str, str] = data.get("tasks", {})  # task id -> path relative to the images root
        self.failed: dict[str, str] = data.get("failed", {})  # task id -> image URL that failed
        self.labels_at_training: int = data.get("labels_at_training", -1)
        self.model_version: str | None = data.get("model_version")
        # Names this mirror's model versions: a mirror folder made again (or a second mirror of the
        # same Label Studio project) restarts labelwise's version count, and without it would write
        # predictions under names that Label Studio already holds from the other mirror.
        self.mirror_id: str | None = data.get("mirror_id")
        # The mirror of Label Studio's annotations: task id -> [class, annotator], the newest usable
        # annotation of each task. A pass reads only changed tasks; labels are reconciled from all of these.
        self.labels: dict[str, list[str]] = data.get("labels", {})
        self.seen: set[int] = set(data.get("seen", []))  # every task id the project held at the last listing
        self.watermark: datetime | None = parse_time(data.get("watermark"))  # None: list every task

    def save(self) -> None:
        data = {"tasks": self.tasks, "failed": self.failed, "labels_at_training": self.labels_at_training,
                "model_version": self.model_version, "mirror_id": self.mirror_id, "labels": self.labels,
                "seen": sorted(self.seen),
                "watermark": self.watermark.isoformat() if self.watermark else None}  # fmt: skip
        atomic_write(self.path, lambda file: file.write(json.dumps(data).encode()))

    def version_name(self, version: int) -> str:
        """``labelwise-v<N>-<mirror id>``; the id is drawn once per mirror folder and kept in its state."""
        if self.mirror_id is None:
            self.mirror_id = secrets.token_hex(3)
            self.save()
        return f"labelwise-v{version}-{self.mirror_id}"


def open_or_create(folder: Path, backbone: str) -> Project:
    if (folder / CONFIG_NAME).exists():
        return Project(folder)
    (folder / IMAGES_FOLDER).mkdir(parents=True, exist_ok=True)
    return Project.create(folder, folder / IMAGES_FOLDER, backbone=backbone)


def changed_tasks(client: LabelStudioClient, ls_project: int, state: _State, emails: dict[int, str]) -> Listing:
    """The tasks created or changed since the last pass, with their annotations read into ``state.labels``.

    A full listing (light rows, paged) when the mirror has none yet, or when the project's task count
    differs from what the mirror knows (a task deleted, or one missed): deleted tasks leave ``seen``,
    and their labels ``state.labels``, so the label is superseded like a deleted annotation.
    """
    listing = list_tasks(client, ls_project, state.watermark)
    full = state.watermark is None
    if not full:
        known = state.seen | {t["id"] for t in listing.tasks}
        if task_count(client, ls_project) != len(known):
            listing, full = list_tasks(client, ls_project, None), True
    if full:
        listed = {t["id"] for t in listing.tasks}
        for gone in state.seen - listed:
            state.labels.pop(str(gone), None)
        state.seen = listed
    else:
        state.seen |= {t["id"] for t in listing.tasks}
    annotated = [t["id"] for t in listing.tasks if t.get("annotations_ids") or t.get("total_annotations")
                 or t.get("cancelled_annotations")]  # fmt: skip
    bodies = annotations_of(client, ls_project, annotated) if annotated else {}
    if any(not isinstance(a.get("completed_by"), dict) for anns in bodies.values() for a in anns) and not emails:
        users = client.call("GET", "/api/users/")
        emails.update({u["id"]: u.get("email") or u.get("username") for u in users})
    for task in listing.tasks:
        annotation = latest_annotation({"annotations": bodies.get(task["id"], [])})
        if annotation is None:
            state.labels.pop(str(task["id"]), None)
        else:
            state.labels[str(task["id"])] = [choice_of(annotation), annotator_email(annotation, emails)]
    return listing


def _fetch_images(client: LabelStudioClient, project: Project, config: ClassificationConfig,
                  tasks: list[dict[str, Any]], state: _State, report: SyncReport) -> None:  # fmt: skip
    folder = project.images_root
    for task in tasks:
        key = str(task["id"])
        url = (task.get("data") or {}).get(config.image_key)
        if key in state.tasks:
            continue
        if not isinstance(url, str) or not url:
            report.skipped.append((task["id"], f"no image URL in data.{config.image_key}"))
            continue
        if state.failed.get(key) == url:
            report.skipped.append((task["id"], f"{url}: failed before"))
            continue
        suffix = PurePosixPath(url.split("?", 1)[0]).suffix.lower()
        name = f"task-{task['id']}{suffix if suffix in IMAGE_SUFFIXES else '.img'}"
        try:
            data = client.download(url)
        except LabelStudioError as exc:
            if "cannot reach" in str(exc):
                raise  # Label Studio is down: stop this pass, the next one resumes here
            state.failed[key] = url
            report.skipped.append((task["id"], str(exc)))
            continue
        (folder / name).write_bytes(data)
        state.tasks[key] = name
        state.failed.pop(key, None)
        report.fetched += 1
        if report.fetched % 200 == 0:
            state.save()  # a pass interrupted here keeps what it already fetched


def _images_by_task(project: Project, state: _State, report: SyncReport) -> dict[int, int]:
    """Task id -> labelwise image id for tasks whose image ingested fine; broken ones are reported."""
    with project.sessions() as session:
        rows = session.execute(select(Image.path, Image.id, Image.status, Image.reason, Image.duplicate_of)).all()
    by_path = {r[0]: r for r in rows}
    out = {}
    for key, path in state.tasks.items():
        row = by_path.get(path)
        if row is None:
            continue
        if row[2] == STATUS_OK:
            out[int(key)] = row[1]
        elif row[4] is not None:
            out[int(key)] = row[4]  # the same picture as another task: it shares that image's label
        else:
            report.skipped.append((int(key), f"image {path} is {row[2]}: {row[3]}"))
    return out


def _import_annotations(project: Project, labels: dict[str, list[str]], images: dict[int, int],
                        report: SyncReport) -> None:  # fmt: skip
    """Make labelwise's current labels those of ``labels`` (task id -> [class, annotator]) for the mirrored images."""
    refuse_on_multi_label(project, "label-studio sync")
    wanted: dict[int, tuple[str, str]] = {}  # image id -> (class, annotator)
    for key, (name, email) in sorted(labels.items(), key=lambda kv: int(kv[0])):
        image_id = images.get(int(key))
        if image_id is not None:
            wanted[image_id] = (name, f"{SOURCE}:{email}")
    report.classes_added = project.add_classes(sorted({c for c, _ in wanted.values()} - set(project.class_names())))
    with project.sessions.begin() as session:
        classes = {c.name: c for c in session.scalars(select(LabelClass))}
        current = {
            r[0]: (r[1], r[2], r[3])
            for r in session.execute(
                select(Annotation.image_id, LabelClass.name, Annotation.annotator, Annotation.source)
                .join(LabelClass, LabelClass.id == Annotation.class_id)
                .where(Annotation.superseded.is_(False))
            )
        }
        for image_id, (name, annotator) in wanted.items():
            if current.get(image_id, (None, None))[:2] == (name, annotator):
                continue
            add_annotation(session, session.get(Image, image_id), classes[name], annotator=annotator, source=SOURCE)
            report.labels_changed += 1
        # An annotation deleted in Label Studio: its label is superseded, not erased.
        mirrored = set(images.values())
        gone = [i for i, (_, _, source) in current.items() if source == SOURCE and i in mirrored and i not in wanted]
        if gone:
            session.execute(
                update(Annotation)
                .where(Annotation.image_id.in_(gone), Annotation.superseded.is_(False))
                .values(superseded=True)
            )
            report.labels_removed += len(gone)


def _count_labels(project: Project) -> int:
    with project.sessions() as session:
        return len(session.scalars(select(Annotation.id).where(Annotation.superseded.is_(False))).all())


PREDICTION_BATCH = 1000  # predictions per bulk request; Label Studio 1.23.2 stores them 500 at a time


def write_predictions(client: LabelStudioClient, ls_project: int, config: ClassificationConfig, ranking: Ranking,
                      tasks_by_image: dict[int, list[int]], model_version: str, limit: int) -> int:  # fmt: skip
    """Predictions for the first ``limit`` ranked images: score = rank / n, so the best comes first.

    They go in bulk (``POST /api/projects/{id}/import/predictions``, ``PREDICTION_BATCH`` a request),
    so a pass over thousands of tasks is a few requests; one by one only if that route is missing.
    """
    entries = [e for e in ranking.entries if e.image_id in tasks_by_image][:limit]
    n = max(len(entries), 1)
    payload = []
    for rank, entry in enumerate(entries):
        result = []
        if entry.top:
            result = [{"from_name": config.choice_name, "to_name": config.image_name, "type": "choices",
                       "value": {"choices": [entry.top[0][0]]}}]  # fmt: skip
        for task_id in tasks_by_image[entry.image_id]:
            payload.append({"task": task_id, "model_version": model_version, "score": rank / n, "result": result})
    for start in range(0, len(payload), PREDICTION_BATCH):
        batch = payload[start : start + PREDICTION_BATCH]
        if not _post_bulk(client, ls_project, batch):
            for item in batch:
                client.call("POST", "/api/predictions", json=item)
    client.call("PATCH", f"/api/projects/{ls_project}",
                json={"model_version": model_version, "sampling": "Uncertainty sampling"})  # fmt: skip
    return len(payload)


def _post_bulk(client: LabelStudioClient, ls_project: int, batch: list[dict[str, Any]]) -> bool:
    """One bulk import; False when this Label Studio has no such route (older than 1.8), other errors raise."""
    path = f"/api/projects/{ls_project}/import/predictions"
    response = client.request("POST", path, json=batch)
    if response.status_code in (404, 405):
        return False
    client.check(response, "POST", path)
    return True


def sync_once(folder: Path, client: LabelStudioClient, ls_project: int, *, backbone: str = "lite0",
              force_train: bool = False, drive_queue: bool = True,
              on_log: Callable[[str], None] | None = None) -> SyncReport:  # fmt: skip
    """One pass of the mirror; see the module docstring. Safe to interrupt: the next pass resumes."""
    start = time.perf_counter()
    report = SyncReport()
    info = client.call("GET", f"/api/projects/{ls_project}")
    config = parse_label_config(info.get("label_config", ""), f"Label Studio project {ls_project}")
    project = open_or_create(Path(folder), backbone)
    try:
        report.classes_added = project.add_classes(config.classes)
        state = _State(project.folder / STATE_NAME)
        previous_mark = state.watermark
        listing = changed_tasks(client, ls_project, state, {})
        report.tasks, report.changed = len(state.seen), len(listing.tasks)
        try:
            _fetch_images(client, project, config, listing.tasks, state, report)
        finally:
            state.save()
        if report.fetched:
            ingest_folder(project)
        images = _images_by_task(project, state, report)
        added_before = set(report.classes_added)
        _import_annotations(project, state.labels, images, report)
        # Everything the listing showed is in the database now: the next pass lists only what changes after it.
        state.watermark = next_watermark(listing, previous_mark)
        state.save()
        report.classes_added = sorted(added_before | set(report.classes_added))
        n_labels = _count_labels(project)
        settings = get_settings(project)
        due = n_labels - state.labels_at_training >= settings["retrain_every"] or state.labels_at_training < 0
        if force_train and n_labels != state.labels_at_training:
            due = True
        if due and images:
            annotators = len({email for _, email in state.labels.values()}) or 1
            n_images = len(set(images.values()))
            limit = n_images if n_images <= SMALL_POOL else 2 * settings["retrain_every"] * annotators
            ranking, _ = train_and_rank(project, {**settings, "queue_size": max(limit, settings["queue_size"])})
            tasks_by_image: dict[int, list[int]] = {}
            labeled = {images[int(k)] for k in state.labels if int(k) in images}
            for task_id, image_id in images.items():
                if image_id not in labeled and task_id in state.seen:  # not a task deleted in Label Studio
                    tasks_by_image.setdefault(image_id, []).append(task_id)
            version = state.version_name(ranking.version)
            if drive_queue:  # False: mirror and retrain only (a benchmark's baseline arms)
                report.predictions = write_predictions(
                    client, ls_project, config, ranking, tasks_by_image, version, limit
                )
            state.labels_at_training = n_labels
            state.model_version = version
            state.save()
            report.retrained, report.model_version = True, version
    finally:
        project.close()
    report.seconds = time.perf_counter() - start
    if on_log:
        on_log(report.summary)
    return report


def sync_forever(folder: Path, client: LabelStudioClient, ls_project: int, every: float, *, backbone: str = "lite0",
                 on_log: Callable[[str], None] = print) -> None:  # fmt: skip
    """Poll every ``every`` seconds; a pass that fails (Label Studio restarting) is retried on the next one."""
    while True:
        try:
            sync_once(folder, client, ls_project, backbone=backbone, on_log=on_log)
        except LabelStudioError as exc:
            on_log(f"pass failed, retrying in {every:g} s: {exc}")
        except LabelwiseError:
            raise
        time.sleep(every)


def predictions_for_tasks(project: Project, tasks: list[dict[str, Any]], label_config: str | None = None) -> list[dict]:
    """Label Studio ML-backend answers for ``tasks``, from the current ranking (no retraining).

    A task labelwise mirrors gets its rank's score (lowest = most informative) and predicted class;
    a task it does not know, or that the ranking does not hold, gets an empty result and score 1.
    """
    config = parse_label_config(label_config) if label_config else None
    state = _State(project.folder / STATE_NAME)
    ranking = Ranking.load(project.folder / "models" / "ranking.json")
    # The ML backend's own name (as /health and /setup give it), not a mirror's: a served project need not be one.
    version = f"labelwise-v{ranking.version}" if ranking else "labelwise-v0"
    with project.sessions() as session:
        ids = dict(session.execute(select(Image.path, Image.id)).all())
    order = {e.image_id: (rank, e) for rank, e in enumerate(ranking.entries)} if ranking else {}
    n = max(len(order), 1)
    answers = []
    for task in tasks:
        image_id = ids.get(state.tasks.get(str(task.get("id")), ""))
        rank, entry = order.get(image_id, (None, None))
        result = []
        if entry is not None and entry.top:
            result = [{"from_name": config.choice_name if config else "choice",
                       "to_name": config.image_name if config else "image", "type": "choices",
                       "value": {"choices": [entry.top[0][0]]}}]  # fmt: skip
        answers.append({"result": result, "score": 1.0 if rank is None else rank / n, "model_version": version})
    return answers
