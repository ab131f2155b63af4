"""labelwise driving a real Label Studio's queue, end to end, and the pieces it is made of."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from labelwise.project import Project, label_studio_tasks
from labelwise.project.label_studio import annotator_email, choice_of, latest_annotation, sync_once
from labelwise.project.label_studio_api import LabelStudioClient, LabelStudioError, parse_label_config
from labelwise.project.training import Ranking, ranking_path
from labelwise.store.models import Annotation, Image, LabelClass
from tests.label_studio_server import choice_result, classification_config, start_label_studio, stop
from tests.utils.images import write_fashion_folder

CLASSES = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


# -- the pieces -------------------------------------------------------------------------------------
def test_config_of_single_image_classification_gives_the_classes():
    config = parse_label_config(classification_config(["cat", "dog"]))
    assert (config.choice_name, config.image_name, config.image_key, config.classes) == (
        "choice", "image", "image", ["cat", "dog"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<View><Image name='i' value='$img'/><RectangleLabels name='r' toName='i'><Label value='a'/>"
         "</RectangleLabels></View>", "0 <Choices>"),
        ("<View><Text name='t' value='$text'/><Choices name='c' toName='t'><Choice value='a'/><Choice value='b'/>"
         "</Choices></View>", "0 <Image>"),
        ("<View><Image name='i' value='$img'/><Choices name='c' toName='x'><Choice value='a'/><Choice value='b'/>"
         "</Choices></View>", "points at 'x'"),
        ("<View><Image", "not valid XML"),
    ],
)  # fmt: skip
def test_configs_that_are_not_single_image_classification_are_refused(xml, fragment):
    with pytest.raises(LabelStudioError, match="project 7") as info:
        parse_label_config(xml, "project 7")
    assert fragment in str(info.value)


def test_the_newest_choosing_annotation_wins_and_cancelled_ones_do_not_count():
    task = {"annotations": [
        {"id": 1, "updated_at": "2026-01-01T10:00:00", "result": choice_result("cat")},
        {"id": 2, "updated_at": "2026-01-02T10:00:00", "result": choice_result("dog")},
        {"id": 3, "updated_at": "2026-01-03T10:00:00", "result": [], "was_cancelled": True},
    ]}  # fmt: skip
    assert choice_of(latest_annotation(task)) == "dog"
    assert latest_annotation({"annotations": [{"id": 1, "result": []}]}) is None


def test_unreachable_label_studio_is_a_clear_error_after_retries():
    client = LabelStudioClient("http://127.0.0.1:9", "abc", retries=2, backoff=0.01)
    with pytest.raises(LabelStudioError, match="cannot reach Label Studio"):
        client.call("GET", "/api/projects/1")


def test_model_version_names_are_kept_by_a_mirror_and_differ_between_mirrors(tmp_path):
    from labelwise.project.label_studio import _State

    first, other = _State(tmp_path / "a.json"), _State(tmp_path / "b.json")
    name = first.version_name(1)
    assert re.fullmatch(r"labelwise-v1-[0-9a-f]{6}", name)
    assert other.version_name(1) != name  # a mirror made again writes under names of its own
    assert _State(tmp_path / "a.json").version_name(2) == name.replace("-v1-", "-v2-")  # kept across passes


def test_the_next_pass_starts_before_this_one_began_and_never_past_an_inconsistent_listing():
    from datetime import UTC, datetime

    from labelwise.project.label_studio_tasks import MARGIN, Listing, next_watermark

    before, began = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    tasks = [{"id": 1, "updated_at": "2026-01-01T10:00:00.5Z"}, {"id": 2, "updated_at": "2026-01-01T12:00:00Z"}]
    assert next_watermark(Listing(tasks, True, began), before) == began - MARGIN
    # The set changed while it was paged: a task may have slid between two pages, so do not move on.
    assert next_watermark(Listing(tasks, False, began), before) == before
    # No Date header: the newest task seen, less the margin; nothing seen: where it was.
    assert next_watermark(Listing(tasks, True, None), before) == datetime(2026, 1, 1, 12, tzinfo=UTC) - MARGIN
    assert next_watermark(Listing([], True, None), before) == before


# -- end to end against a real Label Studio ---------------------------------------------------------
@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    data = tmp_path_factory.mktemp("label-studio-data")
    server = start_label_studio(data)
    yield server
    stop(server.process)


@pytest.fixture(scope="module")
def ls_project(label_studio, tmp_path_factory):
    """A classification project of 30 Fashion-MNIST images and one broken file, uploaded through the API."""
    return _upload_project(label_studio, tmp_path_factory)


@pytest.fixture
def own_ls_project(label_studio, tmp_path_factory):
    """The same, a project of this test's own (no predictions of another test's mirror in it)."""
    return _upload_project(label_studio, tmp_path_factory)


def _upload_project(label_studio, tmp_path_factory):
    images = write_fashion_folder(tmp_path_factory.mktemp("ls-fashion"), per_class=3)
    truth = {}
    with label_studio.api() as api:
        project = api.post("/api/projects", json={"title": "fashion", "label_config": classification_config(CLASSES),
                                                  "sampling": "Sequential sampling"}).json()  # fmt: skip
        files = []
        for path in sorted(images.rglob("*.png")):
            truth[path.name] = path.parent.name
            # One form field per file: Label Studio keeps only the last file of a repeated field.
            files.append((f"file{len(files)}", (path.name, path.read_bytes(), "image/png")))
        files.append(("broken", ("broken.png", b"not a picture at all", "image/png")))
        answer = api.post(f"/api/projects/{project['id']}/import", files=files)
        assert answer.status_code == 201, answer.text
        everything = {"exportType": "JSON", "download_all_tasks": "true"}
        tasks = api.get(f"/api/projects/{project['id']}/export", params=everything).json()
    by_name = {}
    for task in tasks:  # Label Studio keeps the file name after a random prefix
        names = [n for n in [*truth, "broken.png"] if task["data"]["image"].endswith(n)]
        assert len(names) == 1, task["data"]["image"]
        by_name[names[0]] = task["id"]
    return project["id"], {by_name[n]: c for n, c in truth.items()}, by_name["broken.png"]


def _annotate(api, task_id: int, name: str) -> dict:
    answer = api.post(f"/api/tasks/{task_id}/annotations", json={"result": choice_result(name)})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_sync_mirrors_the_project_and_label_studio_serves_labelwise_ranking(label_studio, ls_project, tmp_path):
    pid, truth, broken_task = ls_project
    folder = tmp_path / "mirror"
    with label_studio.api() as api:
        first = {}
        for task_id, name in list(truth.items()):
            if name not in first.values() and len(first) < 4:
                first[task_id] = name
        annotations = {task_id: _annotate(api, task_id, name) for task_id, name in first.items()}
        # The CLI, with a personal access token, creates the labelwise project on first use.
        run = subprocess.run(
            [sys.executable, "-m", "labelwise.cli", "label-studio", "sync", str(folder), "--url", label_studio.url,
             "--token", label_studio.refresh_token, "--ls-project", str(pid), "--once", "--backbone", "squeezenet"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr + run.stdout
        assert f"task {broken_task}" in run.stdout  # the broken image is listed and skipped

        project = Project(folder)
        with project.sessions() as session:
            labels = session.execute(
                select(Image.path, LabelClass.name, Annotation.annotator)
                .join(Annotation, Annotation.image_id == Image.id)
                .join(LabelClass, LabelClass.id == Annotation.class_id)
                .where(Annotation.superseded.is_(False))
            ).all()  # fmt: skip
        assert sorted((p, c, a) for p, c, a in labels) == sorted(
            (f"task-{t}.png", n, f"label-studio:{label_studio.email}") for t, n in first.items()
        )
        assert project.class_names() == CLASSES
        ranking = Ranking.load(ranking_path(project))
        best = ranking.entries[0]

        info = api.get(f"/api/projects/{pid}").json()
        assert info["sampling"] == "Uncertainty sampling"
        assert re.fullmatch(rf"labelwise-v{ranking.version}-[0-9a-f]{{6}}", info["model_version"])
        served = api.get(f"/api/projects/{pid}/next").json()
        with project.sessions() as session:
            served_path = session.scalar(select(Image.path).where(Image.id == best.image_id))
        assert served_path == f"task-{served['id']}.png"  # Label Studio serves labelwise's first choice
        predictions = api.get("/api/predictions", params={"task": served["id"]}).json()
        mine = [p for p in predictions if p["model_version"] == info["model_version"]]
        assert mine and choice_of(mine[0]) == best.top[0][0]  # pre-selected: the predicted class
        assert len(api.get("/api/predictions", params={"project": pid}).json()) == 30 - len(first)

        # A relabel and a deletion in Label Studio; a legacy token this time.
        (relabel_task, old), (deleted_task, _) = list(first.items())[:2]
        new = next(c for c in CLASSES if c != old)
        relabel_id = annotations[relabel_task]["id"]
        assert api.patch(f"/api/annotations/{relabel_id}", json={"result": choice_result(new)}).status_code == 200
        assert api.delete(f"/api/annotations/{annotations[deleted_task]['id']}").status_code == 204
        client = LabelStudioClient(label_studio.url, label_studio.legacy_token)
        posts = []
        client._http.event_hooks["request"].append(lambda r: posts.append(r.url.path) if r.method == "POST" else None)
        report = sync_once(folder, client, pid, force_train=True)
        client.close()
        assert (report.labels_changed, report.labels_removed) == (1, 1)
        # The 27 predictions of this pass go in one bulk request, not one request each.
        assert report.predictions == 27 and posts == [f"/api/projects/{pid}/import/predictions"]
        with project.sessions() as session:
            history = session.execute(
                select(Image.path, LabelClass.name, Annotation.superseded)
                .join(Annotation, Annotation.image_id == Image.id)
                .join(LabelClass, LabelClass.id == Annotation.class_id)
                .order_by(Annotation.id)
            ).all()  # fmt: skip
        assert (f"task-{relabel_task}.png", old, True) in history  # the old label is kept as history
        assert (f"task-{relabel_task}.png", new, False) in history
        assert (f"task-{deleted_task}.png", first[deleted_task], True) in history
        assert not any(p == f"task-{deleted_task}.png" and not s for p, _, s in history)
        assert api.get(f"/api/projects/{pid}").json()["model_version"] == report.model_version

        # Tasks deleted in Label Studio, one labeled and one not: the task count no longer matches the
        # mirror's, a full listing finds them gone; the label is superseded and neither gets a prediction.
        unlabeled_task = next(t for t in truth if t not in first)
        for task_id in (relabel_task, unlabeled_task):
            assert api.delete(f"/api/tasks/{task_id}").status_code == 204
        client = LabelStudioClient(label_studio.url, label_studio.legacy_token)
        report = sync_once(folder, client, pid, force_train=True)
        client.close()
        assert (report.tasks, report.labels_changed, report.labels_removed) == (29, 0, 1)
        assert report.predictions == 26  # 28 pictures left, 2 of them labeled
        with project.sessions() as session:
            live = session.scalars(
                select(Image.path).join(Annotation, Annotation.image_id == Image.id).where(~Annotation.superseded)
            ).all()
        assert sorted(live) == sorted(f"task-{t}.png" for t in first if t not in (relabel_task, deleted_task))
        project.close()


def test_tasks_are_listed_a_page_at_a_time_and_only_those_changed(label_studio, own_ls_project):
    pid, truth, broken_task = own_ls_project
    client = LabelStudioClient(label_studio.url, label_studio.legacy_token)
    listing = label_studio_tasks.list_tasks(client, pid, page_size=7)  # 31 tasks: 5 pages, the last one short
    assert sorted(t["id"] for t in listing.tasks) == sorted([*truth, broken_task])
    assert listing.consistent and listing.started is not None
    assert label_studio_tasks.task_count(client, pid) == len(truth) + 1
    # Nothing changed after the listing began (plus a second: the server's clock counts whole seconds).
    later = listing.started + timedelta(seconds=1)
    time.sleep(1.1)
    assert label_studio_tasks.list_tasks(client, pid, since=later, page_size=7).tasks == []
    task_id, name = next(iter(truth.items()))
    with label_studio.api() as api:
        _annotate(api, task_id, name)
    changed = label_studio_tasks.list_tasks(client, pid, since=later, page_size=7).tasks
    assert [t["id"] for t in changed] == [task_id]
    bodies = label_studio_tasks.annotations_of(client, pid, [task_id])
    assert [choice_of(a) for a in bodies[task_id]] == [name]
    client.close()


def test_a_wrong_token_is_a_clear_error(label_studio, ls_project, tmp_path):
    client = LabelStudioClient(label_studio.url, "f" * 40, retries=0)
    with pytest.raises(LabelStudioError, match="token was refused"):
        sync_once(tmp_path / "p", client, ls_project[0])
    assert not (tmp_path / "p").exists()  # nothing is created from a refused call


def test_an_annotation_naming_an_unknown_class_adds_the_class_and_says_so(tmp_path):
    from labelwise.project.ingest import ingest_folder
    from labelwise.project.label_studio import SyncReport, _import_annotations

    images = write_fashion_folder(tmp_path / "images", per_class=1)
    project = Project.create(tmp_path / "proj", images, backbone="squeezenet")
    project.add_classes(["Bag", "Coat"])
    ingest_folder(project)
    with project.sessions() as session:
        image_id = session.scalar(select(Image.id).limit(1))
    config = parse_label_config(classification_config(["Bag", "Coat"]))
    task = {"id": 9, "annotations": [{"id": 1, "completed_by": 4, "result": choice_result("Hoodie")}]}
    annotation = latest_annotation(task)
    labels = {"9": [choice_of(annotation, config), annotator_email(annotation, {4: "hal@example.com"})]}
    report = SyncReport()
    _import_annotations(project, labels, {9: image_id}, report)
    assert report.classes_added == ["Hoodie"] and "classes added: Hoodie" in report.summary
    assert project.class_names() == ["Bag", "Coat", "Hoodie"]
    with project.sessions() as session:
        assert session.scalar(select(Annotation.annotator)) == "label-studio:hal@example.com"
    project.close()


class _Outage(httpx.HTTPTransport):
    """Label Studio goes away (connection refused, as while it restarts) after ``after`` image downloads,
    for ``length`` requests, or for good when ``length`` is None."""

    def __init__(self, after: int, length: int | None) -> None:
        super().__init__()
        self.after, self.length, self.downloads, self.refused = after, length, 0, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/data/"):
            self.downloads += 1
        if self.downloads > self.after and (self.length is None or self.refused < self.length):
            self.refused += 1
            raise httpx.ConnectError("connection refused", request=request)
        return super().handle_request(request)


def _flaky_client(label_studio, transport: httpx.BaseTransport, retries: int) -> LabelStudioClient:
    client = LabelStudioClient(label_studio.url, label_studio.legacy_token, retries=retries, backoff=0.01)
    client._http.close()
    client._http = httpx.Client(base_url=client.url, timeout=60, transport=transport)
    return client


def test_label_studio_going_away_mid_sync_loses_nothing_and_doubles_nothing(
    label_studio, own_ls_project, tmp_path, monkeypatch
):
    # No safety margin before the last listing, so that the quiet pass below must list nothing at all.
    monkeypatch.setattr(label_studio_tasks, "MARGIN", timedelta(0))
    pid, truth, broken_task = own_ls_project
    folder = tmp_path / "mirror"
    with label_studio.api() as api:
        for task_id, name in list(truth.items())[-3:]:
            _annotate(api, task_id, name)
    # Down for longer than the retries last: the pass stops with a clear error, keeping the 10 images it fetched.
    down = _Outage(after=10, length=None)
    with pytest.raises(LabelStudioError, match="cannot reach Label Studio"):
        sync_once(folder, _flaky_client(label_studio, down, retries=2), pid, backbone="squeezenet")
    assert down.refused == 3  # the call and its two retries
    # Back, with a short outage of three refused requests: retried with backoff, the pass completes
    # and fetches only the 21 tasks the first pass did not get.
    blip = _Outage(after=5, length=3)
    # The next watermark is this pass's start by the server's Date header, in whole seconds: a task
    # changed earlier in the same second is listed again by design (safe, never missed). The quiet pass
    # below asks for nothing at all, so this pass must start in a later second than the annotations
    # above (the failed pass can take under a second: the quiet pass then listed 1-2 tasks in CI).
    time.sleep(1.1)
    report = sync_once(folder, _flaky_client(label_studio, blip, retries=4), pid)
    assert blip.refused == 3 and report.fetched == len(truth) + 1 - 10 and report.retrained
    # Nothing lost, nothing doubled: one image per task, one live label per annotated task, and a
    # quiet pass afterwards finds nothing to fetch or relabel.
    project = Project(folder)
    with project.sessions() as session:
        paths = session.scalars(select(Image.path)).all()
        live = session.scalars(select(Annotation.image_id).where(Annotation.superseded.is_(False))).all()
    project.close()
    assert sorted(paths) == sorted(f"task-{t}.png" for t in [*truth, broken_task])
    with label_studio.api() as api:
        tasks = api.get(f"/api/projects/{pid}/export", params={"exportType": "JSON", "download_all_tasks": "true"})
        annotated = [t for t in tasks.json() if latest_annotation(t) is not None]
        predictions = api.get("/api/predictions", params={"project": pid}).json()
    assert len(live) == len(set(live)) == len(annotated) > 0
    mine = [p["task"] for p in predictions if p["model_version"] == report.model_version]
    assert len(mine) == len(set(mine)) == len(truth) - len(annotated)
    quiet_client = LabelStudioClient(label_studio.url, label_studio.legacy_token)
    calls = []
    quiet_client._http.event_hooks["request"].append(lambda r: calls.append(r.url.path))
    quiet = sync_once(folder, quiet_client, pid)
    assert (quiet.fetched, quiet.labels_changed, quiet.labels_removed, quiet.retrained) == (0, 0, 0, False)
    # The quiet pass read no export and no annotation bodies, only the light list of changed tasks and the count.
    assert quiet.changed == 0 and calls == [f"/api/projects/{pid}", "/api/tasks", "/api/tasks"]

    # The mirror folder made again restarts labelwise's version count: its predictions must not land
    # under the first mirror's name, where Label Studio's queue would mix the two rankings.
    client = LabelStudioClient(label_studio.url, label_studio.legacy_token)
    again = sync_once(tmp_path / "mirror-again", client, pid, backbone="squeezenet")
    assert again.retrained and again.model_version != report.model_version
    with label_studio.api() as api:
        predictions = api.get("/api/predictions", params={"project": pid}).json()
        assert api.get(f"/api/projects/{pid}").json()["model_version"] == again.model_version
    theirs = [p["task"] for p in predictions if p["model_version"] == again.model_version]
    assert sorted(theirs) == sorted(mine)  # one prediction per unlabeled task, none of the first mirror's
