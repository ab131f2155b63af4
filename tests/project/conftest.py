"""Fixtures shared by the tests of labelwise.project (helpers live in tests/utils)."""

from __future__ import annotations

import pytest

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import label_image
from tests.utils.images import write_fashion_folder


@pytest.fixture(scope="module")
def labeled_project(tmp_path_factory):
    """A Fashion-MNIST project of 80 images with three labels in each of three classes (one per test
    module: ``suggest`` locally and through Ray rank the same project). 80 images, as test_ray had:
    on the 200-image ``fashion_folder``, BALD's committee scores through Ray differ from the local
    ones by about 1e-7 (float32), beyond the 1e-9 that test asks."""
    fashion_folder = write_fashion_folder(tmp_path_factory.mktemp("labeled") / "images", per_class=8)
    project = Project.create(fashion_folder.parent / "proj", fashion_folder, backbone="squeezenet")
    project.add_classes(sorted(p.name for p in fashion_folder.iterdir()))
    ingest_folder(project)
    for cls in ("Bag", "Trouser", "Sneaker"):
        for path in sorted((fashion_folder / cls).iterdir())[:3]:
            label_image(project, f"{cls}/{path.name}", cls)
    yield project
    project.close()
