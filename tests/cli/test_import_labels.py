"""import-labels: columns by header name, conflicting and over-long rows refused with their line, counts printed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.project import Project
from labelwise.project.labels import current_labels

runner = CliRunner()


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def project(tmp_path_factory, fashion_folder):
    folder = tmp_path_factory.mktemp("imp") / "proj"
    invoke("init", folder, "--images", fashion_folder, "--backbone", "squeezenet", "--classes", "Bag,Coat")
    return folder


def _labels(folder) -> dict[str, str]:
    from sqlalchemy import select

    from labelwise.store.models import Image, LabelClass

    proj = Project(folder)
    with proj.sessions() as session:
        names = {c.position: c.name for c in session.scalars(select(LabelClass))}
        paths = dict(session.execute(select(Image.id, Image.path)).all())
        return {paths[i]: names[p] for i, p in current_labels(session).items()}


def _bags(fashion_folder, k: int) -> list[str]:
    return [f"Bag/{p.name}" for p in sorted((fashion_folder / "Bag").iterdir())[:k]]


def test_columns_are_read_by_header_name(tmp_path, project, fashion_folder):
    a, b = _bags(fashion_folder, 2)
    reversed_header = tmp_path / "reversed.csv"
    reversed_header.write_text(f"label,path\nCoat,{a}\n")
    assert "labels imported: 1, refused: 0" in invoke("import-labels", project, reversed_header)
    image_class = tmp_path / "image_class.csv"
    image_class.write_text(f"Image,Class\n{b},Coat\n")
    assert "labels imported: 1, refused: 0" in invoke("import-labels", project, image_class)
    headerless = tmp_path / "headerless.csv"
    headerless.write_text(f"{a},Bag\n")
    assert "labels imported: 1, refused: 0" in invoke("import-labels", project, headerless)
    assert _labels(project)[a] == "Bag" and _labels(project)[b] == "Coat"


def test_conflicting_duplicates_and_extra_columns_are_refused_with_their_line(tmp_path, project, fashion_folder):
    a, b, c = _bags(fashion_folder, 5)[2:5]
    rows = tmp_path / "rows.csv"
    rows.write_text(f"file,label\n{a},Bag\n{b},Bag,extra\n{a},Coat\n{c},Coat\n{c},Coat\n")
    out = invoke("import-labels", project, rows, code=1)
    assert "labels imported: 1, refused: 3" in out  # c once; a twice (conflict), b (extra column)
    assert "rows.csv:2: image" in out and "'Coat' at line 4" in out
    assert "rows.csv:4: image" in out and "'Bag' at line 2" in out
    assert "rows.csv:3: an extra column" in out
    labels = _labels(project)
    assert a not in labels and b not in labels and labels[c] == "Coat"


def test_unknown_header_column_is_refused(tmp_path, project, fashion_folder):
    (a,) = _bags(fashion_folder, 1)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,label,annotator\n{a},Bag,me\n")
    out = invoke("import-labels", project, bad, code=2)
    assert "bad.csv:1: header: unknown column 'annotator'" in out and "Traceback" not in out


def test_import_labels_from_folders(tmp_path, fashion_folder):
    folder = tmp_path / "proj"
    invoke("init", folder, "--images", fashion_folder, "--backbone", "squeezenet")
    assert _labels(folder) == {}
    assert "labels imported: 200, refused: 0" in invoke("import-labels", folder, "--from-folders")
    labels = _labels(folder)
    assert len(labels) == 200 and all(path.split("/")[0] == name for path, name in labels.items())
    assert "either a LABELS file or --from-folders" in invoke("import-labels", folder, code=2)
