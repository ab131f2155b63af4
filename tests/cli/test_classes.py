"""Classes that can be fixed (issue 20, item 11): rename, merge, retire and restore through the CLI,
with the history kept and the exports following the new names."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.store.models import Annotation, LabelClass
from tests.utils.cli import exported, invoke


def test_rename_merge_retire_and_restore_keep_every_label(tmp_path, fashion_folder):
    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--labels-from-folders")
    listing = invoke("classes", "list", project).stdout
    assert "Ankle boot" in listing and "20" in listing and "retired" not in listing

    # A rename: the 20 labels and the export follow the new name; the history remembers the old one.
    assert "renamed" in invoke("classes", "rename", project, "Ankle boot", "Ankle-boot", "--by", "ada").stdout
    labels = exported(project)
    assert sum(v == "Ankle-boot" for v in labels.values()) == 20 and "Ankle boot" not in labels.values()
    assert "rename Ankle boot -> Ankle-boot" in invoke("classes", "list", project).stdout

    # A merge: Shirt's 20 labels become T-shirt-top's, Shirt is retired, its old labels stay as history.
    assert "20 labels moved" in invoke("classes", "merge", project, "Shirt", "T-shirt-top").stdout
    labels = exported(project)
    assert sum(v == "T-shirt-top" for v in labels.values()) == 40 and "Shirt" not in labels.values()
    assert len(labels) == 200  # no image lost its label
    shirts = {p for p, v in labels.items() if p.startswith("Shirt/")}
    assert all(labels[p] == "T-shirt-top" for p in shirts) and len(shirts) == 20
    proj = Project(project)
    with proj.sessions() as session:
        shirt = session.scalar(select(LabelClass).where(LabelClass.name == "Shirt"))
        old = session.scalar(select(func.count()).where(Annotation.class_id == shirt.id))
        assert shirt.retired and old == 20  # the labels as given, superseded, not deleted
    proj.close()

    # Retire: not given any more, but its labels stay visible and exported.
    invoke("classes", "retire", project, "Bag")
    first_bag = sorted(p.name for p in (fashion_folder / "Bag").iterdir())[0]
    refused = invoke("label", project, f"Coat/{sorted(p.name for p in (fashion_folder / 'Coat').iterdir())[0]}",
                     "Bag", code=2).output  # fmt: skip
    assert "retired" in refused
    assert exported(project)[f"Bag/{first_bag}"] == "Bag"
    assert "retired" in invoke("classes", "list", project).stdout

    # add restores a retired class and adds a new one; names are checked; clashes are refused by name.
    assert "restored Bag" in invoke("classes", "add", project, "Bag", "Kitten").stdout
    invoke("label", project, f"Bag/{first_bag}", "Kitten")
    assert "slash" in invoke("classes", "add", project, "a/b", code=2).output
    assert "exists already" in invoke("classes", "rename", project, "Coat", "Bag", code=2).output
    assert "unknown" in invoke("classes", "rename", project, "Kat", "Cat", code=2).output
    assert "itself" in invoke("classes", "merge", project, "Coat", "Coat", code=2).output
    assert "is retired" in invoke("classes", "merge", project, "Coat", "Shirt", code=2).output


def test_new_class_names_may_not_hold_a_semicolon(tmp_path, fashion_folder):
    """Label sets are ';'-joined in CSV files (and split on it by the images page): a class created or
    renamed may not hold one. A class that has one from before keeps its name and stays usable."""
    folder = tmp_path / "proj"
    Project.create(folder, fashion_folder, backbone="squeezenet").close()
    assert "must not contain ';'" in invoke("classes", "add", folder, "Bag;Coat", code=2).output
    invoke("classes", "add", folder, "Bag")
    assert "must not contain ';'" in invoke("classes", "rename", folder, "Bag", "Bag;Coat", code=2).output
    project = Project(folder)
    try:
        with pytest.raises(LabelwiseError, match="must not contain ';'"):
            project.add_classes(["Coat", "Shirt;Top"])
        assert project.class_names() == ["Bag"]
        with project.sessions.begin() as session:  # made before the rule
            session.add(LabelClass(name="Shirt;Top", position=1))
        assert project.add_classes(["Shirt;Top"]) == []
    finally:
        project.close()
    assert "Shirt;Top" in invoke("classes", "list", folder).stdout
