"""What review 1 found on multi-label projects (issue 13): a changed file's label set goes to the
history, folder import never shrinks a set, refusals happen before anything changes, the grid and the
class counts read the sets."""

from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import select

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.multilabel_labels import current_label_sets, label_image_set
from labelwise.store.models import Annotation, Image
from tests.utils.images import write_fashion_folder


@pytest.fixture
def small(tmp_path):
    """A real multi-label project on 10 Fashion-MNIST PNGs, one per class folder (SQLite)."""
    folder = write_fashion_folder(tmp_path / "images", per_class=1)
    project = Project.create(tmp_path / "proj", folder, backbone="squeezenet", multi_label=True)
    project.add_classes(["top", "footwear", "dark"])
    ingest_folder(project)
    yield project, folder
    project.close()


def sets(project) -> dict[int, list[int]]:
    with project.sessions() as session:
        return current_label_sets(session)


def test_a_changed_file_moves_its_label_set_to_the_history_and_flags_it(small):
    project, folder = small
    coat, sandal = (next((folder / name).iterdir()) for name in ("Coat", "Sandal"))
    path = f"Coat/{coat.name}"
    label_image_set(project, path, ["top", "dark"])
    shutil.copyfile(sandal, coat)  # other content under the same path
    os.utime(coat, (coat.stat().st_atime + 10, coat.stat().st_mtime + 10))
    report = ingest_folder(project)
    assert report.changed == [path]
    with project.sessions() as session:
        image = session.scalar(select(Image).where(Image.path == path))
        history = session.scalars(select(Annotation).where(Annotation.image_id == image.id)).all()
        assert image.review_reason == "content changed after it was labeled 'top; dark' by cli"
    assert [a.superseded for a in history] == [True]  # kept for audit, no longer current
    assert image.id not in sets(project)


def test_folder_import_adds_the_folder_class_and_never_shrinks_a_set(small):
    from labelwise.project.labels import labels_from_folders

    project, folder = small
    project.add_classes(["Coat"])
    coat, sandal = (f"{name}/{next((folder / name).iterdir()).name}" for name in ("Coat", "Sandal"))
    label_image_set(project, coat, ["top", "Coat", "dark"])  # richer than the folder says: kept as is
    label_image_set(project, sandal, ["footwear"])  # the folder's class is added to it
    report = labels_from_folders(project)
    assert report.imported == 9  # every image but the Coat one
    names = project.class_names()
    with project.sessions() as session:
        ids = dict(session.execute(select(Image.path, Image.id)).all())
    labeled = {path: sorted(names[p] for p in positions) for path, positions in
               ((path, sets(project)[image_id]) for path, image_id in ids.items())}  # fmt: skip
    assert labeled[coat] == ["Coat", "dark", "top"]
    assert labeled[sandal] == ["Sandal", "footwear"]
    assert all(labeled[path] == [path.split("/")[0]] for path in ids if path not in (coat, sandal))
    assert labels_from_folders(project).imported == 0  # a second import changes nothing


def test_label_studio_sync_of_a_multi_label_project_is_refused_before_anything_changes(small):
    """A stand-in Label Studio (httpx's MockTransport, the real client): one project, one task."""
    import httpx

    from labelwise.errors import LabelwiseError
    from labelwise.project.label_studio import STATE_NAME, sync_once
    from labelwise.project.label_studio_api import LabelStudioClient
    from tests.label_studio_server import classification_config

    project, _ = small
    before = project.class_names()
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/projects/7":
            return httpx.Response(200, json={"id": 7, "label_config": classification_config(["Bag", "Coat"])})
        return httpx.Response(200, json={"tasks": [{"id": 1, "data": {"image": "/data/x.png"}}], "total": 1})

    client = LabelStudioClient("http://ls.invalid", "token", retries=0)
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    with pytest.raises(LabelwiseError, match=r"^label-studio sync: not available on a multi-label project"):
        sync_once(project.folder, client, 7, backbone="squeezenet", on_log=lambda _: None)
    assert calls == ["/api/projects/7"]  # the label config only: no task was listed or fetched
    assert Project(project.folder).class_names() == before  # no class added
    assert not (project.folder / STATE_NAME).exists()  # no sync state saved


def test_imagefolder_export_of_a_multi_label_project_is_refused_and_makes_no_folder(small, tmp_path):
    from labelwise.errors import LabelwiseError
    from labelwise.project.export import export_image_folder

    project, _ = small
    label_image_set(project, _paths(project)[0], ["top", "dark"])
    for target in (None, tmp_path / "out"):
        with pytest.raises(LabelwiseError, match=r"^imagefolder: a multi-label image belongs in several folders"):
            export_image_folder(project, target)
    assert not (tmp_path / "out").exists()
    assert not (project.folder / "exports").exists() or not any((project.folder / "exports").iterdir())


def _paths(project) -> list[str]:
    with project.sessions() as session:
        return list(session.scalars(select(Image.path)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_grid_class_filter_and_the_class_counts_read_the_sets(request, tmp_path, backend):
    from labelwise.project.classes import list_classes
    from labelwise.project.grid import GridFilters, image_grid
    from labelwise.store.models import STATUS_OK

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    (tmp_path / "images").mkdir()
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet", multi_label=True,
                             db_url=url)  # fmt: skip
    project.add_classes(["top", "footwear", "dark"])
    with project.sessions.begin() as session:
        session.add_all(Image(path=f"{i}.png", content_hash=f"{i:064x}", status=STATUS_OK) for i in range(6))
    label_image_set(project, "0.png", ["top", "dark"])
    label_image_set(project, "1.png", ["dark"])
    label_image_set(project, "2.png", ["footwear"])
    label_image_set(project, "2.png", ["top"])  # relabeled: only the current set counts
    label_image_set(project, "3.png", [])  # explicit none
    page = image_grid(project, None, GridFilters(label="dark"))
    assert (page.total, [i.path for i in page.items]) == (2, ["0.png", "1.png"])
    assert [i.label for i in page.items] == ["top; dark", "dark"]
    page = image_grid(project, None, GridFilters(label="top", labeled=True))
    assert (page.total, [i.path for i in page.items]) == (2, ["0.png", "2.png"])
    page = image_grid(project, None, GridFilters(label="footwear"))
    assert (page.total, page.items) == (0, [])
    assert {c.name: c.labels for c in list_classes(project)} == {"top": 2, "footwear": 0, "dark": 2}
    project.close()


@pytest.mark.parametrize("add_classes", [False, True])
def test_a_stray_separator_in_a_csv_set_is_refused_naming_the_line(small, tmp_path, add_classes):
    from labelwise.project.labels import import_labels_csv

    project, _ = small
    first, second = sorted(_paths(project))[:2]
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{first},top;\n{second},top;dark\n")
    report = import_labels_csv(project, labels, add_classes=add_classes)
    assert report.imported == 1
    assert report.errors == [f"{labels}:2: label 'top;': an empty class name (a stray ';'?)"]
    assert sorted(sets(project).values()) == [[0, 2]]
