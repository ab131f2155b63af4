"""Errors a user meets are one line naming the path or field, never a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from labelwise.cli import app

runner = CliRunner()


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_export_to_a_missing_folder_or_onto_a_folder_is_one_line(tmp_path, fashion_folder):
    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--labels-from-folders")
    missing = invoke("export", project, "--out", tmp_path / "nowhere" / "x.csv", code=2)
    assert f"{tmp_path / 'nowhere'}: folder not found" in missing.output and "Traceback" not in missing.output
    assert isinstance(missing.exception, SystemExit)
    onto = invoke("export", project, "--out", tmp_path, code=2)
    assert f"{tmp_path}: is a folder" in onto.output and isinstance(onto.exception, SystemExit)
    assert "wrote 200 labels" in invoke("export", project, "--out", tmp_path / "labels.csv").output
