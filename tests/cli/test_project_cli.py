"""The project commands, end to end through the CLI, on real files and a real SQLite database."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from labelwise.project import Project
from tests.utils.cli import invoke


def status(project) -> dict:
    return json.loads(invoke("status", project, "--json").stdout)


def test_bad_input_folder_is_ingested_without_stopping(tmp_path, bad_input_folder):
    root, expected = bad_input_folder
    project = tmp_path / "proj"
    out = invoke("init", project, "--images", root, "--backbone", "squeezenet", "--classes", "a,b").output
    assert "5 broken" in out
    info = status(project)
    broken = {item["path"]: item["reason"] for item in info["broken"]}
    expected_broken = {p: r for p, r in expected.items() if r is not None}
    assert set(broken) == set(expected_broken)
    for path, fragment in expected_broken.items():
        assert fragment in broken[path]
    assert info["images_duplicate"] == 1  # duplicates/copy-of-photo.png
    assert info["images_ok"] == len(expected) - len(expected_broken) - 1
    assert info["images_broken"] == 5 and info["unlabeled"] == info["images_ok"] and info["labeled"] == 0
    assert info["classes"] == {"a": 0, "b": 0}
    # Human-readable status lists the broken files with reasons too.
    assert "bad/zero-bytes.png: empty file" in invoke("status", project).output


def test_add_is_incremental(tmp_path, fashion_folder):
    images = tmp_path / "images"
    shutil.copytree(fashion_folder, images)
    project = tmp_path / "proj"
    invoke("init", project, "--images", images, "--backbone", "squeezenet", "--labels-from-folders")
    again = invoke("add", project).output
    assert "0 embedded" in again and "nothing new to embed" in again
    shutil.copy(images / "Bag" / sorted(p.name for p in (images / "Bag").iterdir())[0], images / "Bag" / "copy.png")
    (images / "new").mkdir()
    from tests.utils.images import photo

    photo(77).save(images / "new" / "fresh.png")
    out = invoke("add", project, "--images", images / "new").output
    assert "1 embedded" in out
    out = invoke("add", project).output
    assert "1 duplicates" in out and "0 embedded" in out  # the copy: known content, not re-embedded
    info = status(project)
    assert info["images_ok"] == 201 and info["images_duplicate"] == 1 and info["store_vectors"] == 201
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert "not inside the project's images folder" in invoke("add", project, "--images", outside, code=2).output


def test_labels_suggest_and_export(tmp_path, fashion_folder):
    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--labels-from-folders")
    info = status(project)
    assert info["labeled"] == 200 and len(info["classes"]) == 10 and set(info["classes"].values()) == {20}

    # Relabel, then refuse an unknown class and an unknown image, naming them.
    first_bag, second_bag = sorted(p.name for p in (fashion_folder / "Bag").iterdir())[:2]
    invoke("label", project, f"Bag/{first_bag}", "Coat")
    assert (
        "class: unknown class 'Kitten'; the classes are"
        in invoke("label", project, f"Bag/{first_bag}", "Kitten", code=2).output
    )
    assert "not in the project" in invoke("label", project, "Bag/nope.png", "Bag", code=2).output

    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text(
        f"path,label\nBag/{first_bag},Bag\nBag/missing.png,Bag\nBag/{second_bag},Dog\nonly-one-column\n"
    )
    out = invoke("import-labels", project, labels_csv, code=1).output
    assert "labels imported: 1, refused: 3" in out
    assert "labels.csv:3" in out and "labels.csv:4" in out and "labels.csv:5" in out

    out_csv, out_json = tmp_path / "labels-out.csv", tmp_path / "labels-out.json"
    invoke("export", project, "--format", "csv", "--out", out_csv)
    invoke("export", project, "--format", "json", "--out", out_json)
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200
    assert list(rows[0]) == ["path", "label", "annotator", "time", "model_version", "strategy", "score", "flag"]
    assert {r["label"] for r in rows if r["path"] == f"Bag/{first_bag}"} == {"Bag"}  # current label only
    assert len(json.loads(out_json.read_text())) == 200


def test_suggest_ranks_the_pool_and_handles_cold_start(tmp_path, fashion_folder):
    project = tmp_path / "proj"
    names = ",".join(sorted(p.name for p in fashion_folder.iterdir()))
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--classes", names)
    cold = json.loads(invoke("suggest", project, "-n", "5", "--format", "json").stdout)
    assert cold["strategy"] == "auto: typiclust" and "cold start" in cold["note"] and len(cold["items"]) == 5
    assert {i["path"].split("/")[0] for i in cold["items"]} != {cold["items"][0]["path"].split("/")[0]}
    cold = json.loads(invoke("suggest", project, "-n", "5", "--strategy", "margin", "--format", "json").stdout)
    assert cold["strategy"] == "random (cold start)" and "picked by random" in cold["note"]
    proj = Project(project)
    for cls in ("Bag", "Trouser", "Sneaker"):
        for path in sorted((fashion_folder / cls).iterdir())[:3]:
            invoke("label", project, f"{cls}/{path.name}", cls)
    result = json.loads(invoke("suggest", project, "-n", "10", "--strategy", "entropy", "--format", "json").stdout)
    items = result["items"]
    assert result["strategy"] == "entropy" and len(items) == 10
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert {i["predicted"] for i in items} <= {"Bag", "Trouser", "Sneaker"}
    assert all(0 < i["probability"] <= 1 for i in items)
    labeled_paths = {
        f"{c}/{p.name}" for c in ("Bag", "Trouser", "Sneaker") for p in sorted((fashion_folder / c).iterdir())[:3]
    }
    assert not labeled_paths & {i["path"] for i in items}
    table = invoke("suggest", project, "-n", "3", "--candidates", "50", "--explore", "0.34").output
    assert "suggestions by auto: typiclust" in table  # 9 labels for 10 classes: the typical phase
    csv_out = invoke("suggest", project, "-n", "3", "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "path,score,predicted,probability" and len(csv_out) == 4
    assert "unknown strategy" in invoke("suggest", project, "--strategy", "oracle", code=2).output
    proj.close()


def test_init_projects_embeddings_to_the_pool_size_and_imports_folder_labels(tmp_path, fashion_folder):
    from labelwise.project.pool import load_pool

    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--labels-from-folders")
    pool = load_pool(Project(project))
    assert pool.X.shape == (200, 200)  # min(256, n images)
    assert (pool.labels >= 0).all() and np.bincount(pool.labels).tolist() == [20] * 10


def test_not_a_project_and_missing_folder_errors(tmp_path):
    assert "not a labelwise project" in invoke("status", tmp_path, code=2).output
    assert "images folder not found" in invoke("init", tmp_path / "p", "--images", tmp_path / "none", code=2).output


@pytest.mark.parametrize("backbone", ["resnet"])
def test_unknown_backbone_at_init(tmp_path, backbone, fashion_folder):
    out = invoke("init", tmp_path / "p", "--images", fashion_folder, "--backbone", backbone, code=2).output
    assert "resnet" in out and "lite0" in out
