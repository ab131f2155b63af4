"""`labelwise review`: the labels most likely wrong come first; confirm and change keep the history."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from labelwise.project import Project
from labelwise.store.models import Annotation, LabelClass, LabelReview
from tests.utils.cli import exported, invoke


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, fashion_folder):
    """The 200 pictures ingested once, no classes nor labels; each test works on a copy."""
    folder = tmp_path_factory.mktemp("review") / "proj"
    invoke("init", folder, "--images", fashion_folder, "--backbone", "squeezenet")
    return folder


@pytest.fixture
def project(ingested, tmp_path):
    shutil.copytree(ingested, tmp_path / "proj")
    return tmp_path / "proj"


def test_review_lists_wrong_labels_first_and_keeps_who_when_and_from_what(project, fashion_folder):
    invoke("import-labels", project, "--from-folders")
    # Break 8 labels: Trousers called Bags and Sneakers called Dresses (classes far apart).
    trousers = sorted(p.name for p in (fashion_folder / "Trouser").iterdir())[:4]
    sneakers = sorted(p.name for p in (fashion_folder / "Sneaker").iterdir())[:4]
    broken = [f"Trouser/{n}" for n in trousers] + [f"Sneaker/{n}" for n in sneakers]
    for path in broken:
        invoke("label", project, path, "Bag" if path.startswith("Trouser") else "Dress")

    listed = json.loads(invoke("review", project, "-n", "200", "--format", "json").stdout)
    assert listed["n_checked"] == 200 and listed["n_reviewed"] == 0
    ranked = [i["path"] for i in listed["items"]]
    ranks = [ranked.index(path) + 1 for path in broken]
    # A random order puts 16 * 8 / 200 = 0.64 of them in the top 16, and their mean rank near 100
    # (sd 20). On 20 pictures a class, real confusions (shirts, tops) compete with the broken labels.
    assert sum(r <= 16 for r in ranks) >= 4 and sum(ranks) / len(ranks) < 40, ranks
    first = next(i for i in listed["items"] if i["path"] in broken)
    assert first["flagged"] and first["label"] in ("Bag", "Dress") and first["given_p"] < 0.5

    # Confirm one label, change another: both leave the list; the change is the current label.
    keep, fix = broken[0], broken[4]
    assert f"confirmed {keep}" in invoke("review", project, "--confirm", keep, "--by", "rita").stdout
    out = invoke("review", project, "--change", f"{fix}=Sneaker", "--by", "rita").stdout
    assert f"change {fix}: Dress -> Sneaker" in out
    labels = exported(project)
    assert labels[fix] == "Sneaker" and labels[keep] == "Bag"
    again = json.loads(invoke("review", project, "-n", "200", "--format", "json").stdout)
    assert again["n_reviewed"] == 2 and {keep, fix}.isdisjoint(i["path"] for i in again["items"])

    history = json.loads(invoke("review", project, "--history", "--format", "json").stdout)
    assert [(h["path"], h["action"], h["from"], h["to"], h["by"]) for h in history] == [
        (fix, "change", "Dress", "Sneaker", "rita"),
        (keep, "confirm", "Bag", "Bag", "rita"),
    ]
    assert history[0]["labeled_by"] == "cli" and history[0]["at"] >= history[0]["labeled_at"]
    proj = Project(project)
    with proj.sessions() as session:
        rows = session.execute(
            select(LabelClass.name, Annotation.source, Annotation.superseded)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
            .where(Annotation.image_id == history[0]["image_id"])
            .order_by(Annotation.id)
        ).all()
        # From the folders, the broken label, the reviewer's: nothing erased.
        assert [tuple(r) for r in rows] == [("Sneaker", "folders", True), ("Dress", "cli", True),
                                            ("Sneaker", "review", False)]  # fmt: skip
        assert session.scalar(select(LabelReview.new_annotation_id).where(LabelReview.action == "change"))
    proj.close()


def test_review_refuses_bad_input_by_name(project, fashion_folder):
    invoke("classes", "add", project, "Bag", "Coat")
    assert "two classes with two labels" in invoke("review", project, code=2).output
    path = f"Bag/{sorted(p.name for p in (fashion_folder / 'Bag').iterdir())[0]}"
    assert "has no label to review" in invoke("review", project, "--confirm", path, code=2).output
    invoke("label", project, path, "Bag")
    assert (
        "class: unknown class 'Cat'; the classes are"
        in invoke("review", project, "--change", f"{path}=Cat", code=2).output
    )
    assert "not in the project" in invoke("review", project, "--confirm", "nope.png", code=2).output
    assert "expected PATH=CLASS" in invoke("review", project, "--change", path, code=2).output
    assert "--format" in invoke("review", project, "--format", "xml", code=2).output
