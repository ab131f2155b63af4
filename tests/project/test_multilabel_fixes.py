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
