"""Importing the user's own model's predictions: good rows kept, bad rows refused by line, missing
images listed, a top-k file keeps each image's most probable class."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.predictions import import_predictions, imported_predictions
from labelwise.project.preselect import preselections
from tests.utils.images import photo


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("predictions")
    for i, rel in enumerate(["cats/1.png", "cats/2.png", "dogs/3.png", "dogs/4.png"]):
        (root / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        photo(i).save(root / "images" / rel)
    proj = Project.create(root / "proj", root / "images", backbone="squeezenet")
    proj.add_classes(["cats", "dogs"])
    ingest_folder(proj)
    yield proj
    proj.close()


def ids(project) -> dict[str, int]:
    from sqlalchemy import select

    from labelwise.store.models import Image

    with project.sessions() as session:
        return dict(session.execute(select(Image.path, Image.id)).all())


def test_csv_rows_are_kept_refused_by_line_or_listed_missing(project, tmp_path):
    file = tmp_path / "preds.csv"
    file.write_text(
        "image,probability,class\n"  # any order, the header names the columns
        "cats/1.png,0.9,cats\n"
        "cats/2.png,0.2,dogs\n"
        "cats/2.png,0.7,cats\n"  # a top-k file: the most probable class wins
        "dogs/3.png,1.5,dogs\n"
        "dogs/4.png,high,dogs\n"
        "dogs/4.png,0.8,horses\n"
        "dogs/4.png,0.8\n"
        "birds/9.png,0.99,cats\n"
    )
    report = import_predictions(project, file)
    assert report.imported == 2
    assert report.errors == [
        f"{file}:5: probability '1.5' is not between 0 and 1",
        f"{file}:6: probability 'high' is not a number",
        f"{file}:7: class 'horses' is not a class of the project",
        f"{file}:8: 2 columns, the header has 3",
    ]
    assert report.missing == ["birds/9.png"]
    by_path = ids(project)
    got = imported_predictions(project)
    assert got == {by_path["cats/1.png"]: ("cats", 0.9), by_path["cats/2.png"]: ("cats", 0.7)}
    # The user's model speaks first; at 0.8 the 0.7 prediction is not pre-selected, and where it
    # predicted nothing the project's model (its top classes) decides.
    tops = {by_path["cats/1.png"]: [], by_path["cats/2.png"]: [], by_path["dogs/3.png"]: [("dogs", 0.9), ("cats", 0.1)]}
    assert preselections(project, tops, 0.8) == {
        by_path["cats/1.png"]: "cats", by_path["cats/2.png"]: None, by_path["dogs/3.png"]: "dogs",
    }  # fmt: skip
    assert set(preselections(project, tops, None).values()) == {None}


def test_json_import_replaces_earlier_predictions_and_the_cli_reports_refusals(project, tmp_path):
    file = tmp_path / "preds.json"
    file.write_text(json.dumps({"predictions": [
        {"path": "cats/1.png", "class": "dogs", "probability": 0.6},
        {"path": "dogs/3.png", "label": "dogs", "p": 0.95},
        {"path": "dogs/4.png", "probability": 0.5},
        "cats/2.png",
    ]}))  # fmt: skip
    result = CliRunner().invoke(app, ["import-predictions", str(project.folder), str(file)])
    assert result.exit_code == 1, result.output  # some rows refused
    assert "imported 2 prediction(s)" in result.output
    assert f"{file}:item 3: expected one of the columns class/label/predicted" in result.output
    assert f"{file}:item 4: expected an object" in result.output
    by_path = ids(project)
    got = imported_predictions(project, [by_path["cats/1.png"], by_path["dogs/3.png"]])
    assert got == {by_path["cats/1.png"]: ("dogs", 0.6), by_path["dogs/3.png"]: ("dogs", 0.95)}


def test_a_wrong_header_or_unreadable_file_refuses_the_file(project, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,class\ncats/1.png,cats\n")
    with pytest.raises(LabelwiseError, match=r"bad.csv:1: header: expected one of the columns probability/p/conf"):
        import_predictions(project, bad)
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(LabelwiseError, match=r"broken.json:1: not JSON"):
        import_predictions(project, broken)
    with pytest.raises(LabelwiseError, match="cannot read predictions"):
        import_predictions(project, tmp_path / "nowhere.csv")
