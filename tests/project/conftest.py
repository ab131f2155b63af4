"""Fixtures shared by the tests of labelwise.project (helpers live in tests/utils)."""

from __future__ import annotations

import pytest

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import label_image


@pytest.fixture(scope="module")
def labeled_project(tmp_path_factory, fashion_folder):
    """A Fashion-MNIST project with three labels in each of three classes (one per test module:
    ``suggest`` locally and through Ray rank the same project)."""
    project = Project.create(tmp_path_factory.mktemp("labeled") / "proj", fashion_folder, backbone="squeezenet")
    project.add_classes(sorted(p.name for p in fashion_folder.iterdir()))
    ingest_folder(project)
    for cls in ("Bag", "Trouser", "Sneaker"):
        for path in sorted((fashion_folder / cls).iterdir())[:3]:
            label_image(project, f"{cls}/{path.name}", cls)
    yield project
    project.close()
