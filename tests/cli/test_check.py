"""`labelwise check`: every ok image has its own vector and an unchanged file; `--repair` re-embeds."""

from __future__ import annotations

import logging
import os
import shutil

from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.project import Project
from labelwise.server.app import create_app
from labelwise.store.models import Image

runner = CliRunner()
ROW = 512 * 4  # squeezenet vectors, float32
KEY = 32


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def damage_store(project) -> tuple[int, str]:
    """What a reader used to do to a batch in flight: cut the last 5 rows. Then give one image
    another image's vector. Returns how many rows were cut and the path with a wrong vector."""
    store = project / "embeddings" / "squeezenet"
    for name, size in (("vectors.f32", ROW), ("keys.bin", KEY)):
        path = store / name
        os.truncate(path, path.stat().st_size - 5 * size)
    proj = Project(project)
    with proj.sessions() as session:
        query = select(Image.path, Image.content_hash).where(Image.status == "ok").order_by(Image.id)
        paths = session.execute(query).all()
    victim, other = paths[0], paths[1]
    proj.store.add([victim[1]], proj.store.get([other[1]]), replace=True)
    proj.close()
    return 5, victim[0]


def test_check_finds_and_repairs_a_damaged_store(tmp_path, fashion_folder, caplog):
    images, project = tmp_path / "images", tmp_path / "proj"
    shutil.copytree(fashion_folder, images)
    invoke("init", project, "--images", images, "--backbone", "squeezenet")
    assert "project ok" in invoke("check", project).output

    cut, wrong = damage_store(project)
    with caplog.at_level(logging.INFO, logger="labelwise"):
        create_app(project, start_worker=False)  # the server runs the cheap part at start
    assert f"{cut} without a vector" in caplog.text and "labelwise check" in caplog.text

    # `suggest` on the damaged store: a one-line error pointing to the repair, not a KeyError traceback.
    failed = invoke("suggest", project, code=2)
    assert "no embedding for content hash" in failed.output and "labelwise check PROJECT --repair" in failed.output
    assert isinstance(failed.exception, SystemExit)  # handled, not a KeyError escaping

    out = invoke("check", project, "--sample", 0, code=1).output
    assert f"{cut} without a vector" in out and "1 of 195 re-embedded with a wrong vector" in out
    assert f"wrong vector {wrong}" in out and "--repair" in out

    bags = sorted((images / "Bag").iterdir())
    bags[0].unlink()
    os.utime(bags[1], ns=(1, 1))
    out = invoke("check", project, "--repair", "--sample", 0, code=1).output
    assert f"{cut + 1} re-embedded" in out and "1 files missing, 1 files changed" in out
    assert f"file missing Bag/{bags[0].name}" in out and "labelwise add" in out

    invoke("add", project)
    out = invoke("check", project, "--sample", 0).output
    assert "0 without a vector" in out and "0 of 199 re-embedded with a wrong vector" in out and "project ok" in out
