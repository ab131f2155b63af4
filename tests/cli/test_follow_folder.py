"""`add` follows the images folder: deletions, moves, changed content, reappearing files."""

from __future__ import annotations

import csv
import json
import shutil

from typer.testing import CliRunner

from labelwise.cli import app
from tests.utils.images import photo

runner = CliRunner()


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def status(project) -> dict:
    return json.loads(invoke("status", project, "--json").stdout)


def test_add_follows_deletions_moves_and_changed_content(tmp_path, fashion_folder):
    images, project = tmp_path / "images", tmp_path / "proj"
    shutil.copytree(fashion_folder, images)
    invoke("init", project, "--images", images, "--backbone", "squeezenet", "--labels-from-folders")
    bags = sorted(p.name for p in (images / "Bag").iterdir())
    gone, moved, changed = f"Bag/{bags[0]}", f"Bag/{bags[1]}", f"Bag/{bags[2]}"
    (images / gone).unlink()
    (images / "renamed").mkdir()
    (images / moved).rename(images / "renamed" / "bag.png")
    photo(5, size=(28, 28)).save(images / changed)  # another picture under the same name

    out = invoke("add", project).output
    assert "1 moved" in out and "1 missing" in out and "1 labeled files changed" in out
    info = status(project)
    assert info["images_missing"] == 1 and info["missing"] == [gone]
    assert info["images_ok"] == 199 and info["images_duplicate"] == 0  # the moved file is no duplicate
    assert [item["path"] for item in info["to_review"]] == [changed]
    assert "labeled 'Bag'" in info["to_review"][0]["reason"]
    assert info["labeled"] == 198 and info["unlabeled"] == 1  # the changed file waits for a new label

    export = tmp_path / "labels.csv"
    invoke("export", project, "--out", export)
    rows = {r["path"]: r for r in csv.DictReader(export.open())}
    assert rows["renamed/bag.png"]["label"] == "Bag" and rows["renamed/bag.png"]["flag"] == ""
    assert moved not in rows and rows[gone]["flag"] == "missing"
    assert changed not in rows  # its label went to the history

    assert "is missing" in invoke("label", project, gone, "Bag", code=2).output
    suggested = json.loads(invoke("suggest", project, "-n", "5", "--format", "json").stdout)["items"]
    assert [i["path"] for i in suggested][:1] == [changed]  # the only unlabeled image
    invoke("label", project, changed, "Coat")
    assert status(project)["to_review"] == []

    # The missing file comes back: ok again, with its label.
    shutil.copy(fashion_folder / gone, images / gone)
    assert "0 embedded" in invoke("add", project).output
    info = status(project)
    assert info["images_missing"] == 0 and info["images_ok"] == 200 and info["labeled"] == 200


def test_a_renamed_original_hands_over_to_its_duplicate(tmp_path, fashion_folder):
    images, project = tmp_path / "images", tmp_path / "proj"
    shutil.copytree(fashion_folder, images)
    first = sorted((images / "Bag").iterdir())[0]
    shutil.copy(first, images / "Bag" / "zz-copy.png")
    invoke("init", project, "--images", images, "--backbone", "squeezenet")
    detail = invoke("label", project, "Bag/zz-copy.png", "x", code=2).output
    assert f"copy of Bag/{first.name}" in detail  # a path, not an internal id
    first.unlink()
    invoke("add", project)
    info = status(project)
    assert info["images_duplicate"] == 0 and info["images_missing"] == 1 and info["images_ok"] == 200


def test_a_symlinked_folder_never_shadows_the_real_one_with_labels_from_folders(tmp_path):
    images, project = tmp_path / "images", tmp_path / "proj"
    for folder in ("square", "circle", "bad"):
        (images / folder).mkdir(parents=True)
    for i in range(6):
        photo(i).save(images / "square" / f"s{i}.png")
        photo(100 + i).save(images / "circle" / f"c{i}.png")
    photo(200).save(images / "bad" / "real.png")
    # "bad/" sorts before "square/": the link must still not take the squares.
    (images / "bad" / "square_link").symlink_to("../square", target_is_directory=True)
    invoke("init", project, "--images", images, "--backbone", "squeezenet", "--labels-from-folders")
    info = status(project)
    assert info["classes"] == {"bad": 1, "circle": 6, "square": 6}
    assert info["images_ok"] == 13 and info["images_duplicate"] == 0
    out = tmp_path / "labels.csv"
    invoke("export", project, "--out", out)
    with open(out) as f:
        paths = {r["path"]: r["label"] for r in csv.DictReader(f)}
    assert not any("square_link" in p for p in paths)
    assert {p for p, label in paths.items() if label == "square"} == {f"square/s{i}.png" for i in range(6)}
