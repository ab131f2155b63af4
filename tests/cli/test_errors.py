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


def test_bomb_message_quotes_max_pixels_not_pillows_limit():
    from labelwise.ingest.decode import BrokenImageError, open_image
    from tests.utils.images import png_bomb

    for width in (20_000, 300):  # past Pillow's own refusal, and under it (our check alone)
        try:
            open_image(png_bomb(width, width), max_pixels=1_000)
        except BrokenImageError as exc:
            assert f"{width * width:,} pixels" in str(exc) or f"{width}x{width}" in str(exc)
            assert "exceeds the limit of 1,000 (--max-pixels)" in str(exc), exc
        else:
            raise AssertionError(f"a {width}x{width} image passed a 1,000-pixel limit")


def test_init_on_a_file_on_an_empty_folder_and_suggest_without_classes(tmp_path, fashion_folder):
    picture = next((fashion_folder / "Bag").iterdir())
    out = invoke("init", tmp_path / "p", "--images", picture, code=2).output
    assert f"{picture}: is a file, not a folder" in out and "Traceback" not in out
    empty = tmp_path / "empty"
    empty.mkdir()
    out = invoke("init", tmp_path / "e", "--images", empty, "--backbone", "squeezenet").output
    assert f"warning: no image files found in {empty}" in " ".join(out.split())  # a warning: the folder may fill later
    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet")
    out = invoke("suggest", project, code=2).output
    assert "labelwise classes add PROJECT NAME" in out and "init --classes" not in out
