"""PostgreSQL for real, migrations, and an ingest killed with SIGKILL that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.store import db
from tests.utils.images import write_fashion_folder

runner = CliRunner()


# Every migration file of the package; the chain must have one head (parallel branches re-chained).
MIGRATIONS = sorted((Path(db.__file__).parent / "migrations" / "versions").glob("[0-9]*.py"))


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(db.alembic_config(db.make_engine("sqlite://"))).get_heads()
    assert len(heads) == 1, f"the migrations have {len(heads)} heads: {heads}"
    return heads[0]


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_project_on_postgresql(tmp_path, fashion_folder, pg_url):
    project = tmp_path / "proj"
    plain_url = pg_url.replace("postgresql+psycopg://", "postgresql://")  # what a user types
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--labels-from-folders",
           "--db", plain_url)  # fmt: skip
    assert not (project / "labelwise.db").exists()
    info = json.loads(invoke("status", project, "--json").stdout)
    assert info["images_ok"] == 200 and info["labeled"] == 200
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("select count(*) from images where status = 'ok'")).scalar() == 200
        assert conn.execute(sqlalchemy.text("select version_num from alembic_version")).scalar() == head_revision()
    engine.dispose()
    # Everything is labeled: suggest says so instead of failing obscurely.
    assert "no unlabeled item left" in invoke("suggest", project, code=2).output


def test_pending_migrations_are_refused_with_the_upgrade_command(tmp_path, fashion_folder):
    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet")
    engine = db.make_engine(db.sqlite_url(project / "labelwise.db"))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("delete from alembic_version"))  # as if created by an older labelwise
    engine.dispose()
    with pytest.raises(LabelwiseError, match=f"labelwise db upgrade {project}"):
        Project(project)
    assert "pending migration" in invoke("status", project, code=2).output
    # The migration creates tables that already exist, so an honest old database is simulated
    # by dropping them: the upgrade then rebuilds the schema.
    engine = db.make_engine(db.sqlite_url(project / "labelwise.db"))
    with engine.begin() as conn:
        for table in ("annotation_classes", "opinion_leases", "label_reviews", "imported_predictions", "login_codes",
                      "login_sessions",
                      "class_changes",
                      "model_versions", "skips",
                      "leases", "settings_history", "settings", "users",
                      "annotations", "classes", "images"):  # fmt: skip
            conn.execute(sqlalchemy.text(f"drop table {table}"))
    engine.dispose()
    assert f"{len(MIGRATIONS)} migration(s) applied" in invoke("db", "upgrade", project).output
    Project(project)


def test_ingest_killed_with_sigkill_resumes_without_re_embedding(tmp_path):
    images = write_fashion_folder(tmp_path / "images", per_class=40)  # 400 real PNG files
    project = tmp_path / "proj"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "labelwise.cli", "init", str(project), "--images", str(images),
           "--backbone", "squeezenet", "--labels-from-folders"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    keys = project / "embeddings" / "squeezenet" / "keys.bin"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not keys.exists() or keys.stat().st_size < 2 * 64 * 32):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored_before = keys.stat().st_size // 32
    assert 0 < stored_before < 400, "the ingest should have been killed part-way"
    out = invoke("add", project).output
    embedded_now = int(out.split(" embedded")[0].rsplit(" ", 1)[-1])
    assert embedded_now == 400 - stored_before  # nothing embedded twice
    info = json.loads(invoke("status", project, "--json").stdout)
    assert info["images_ok"] == 400 and info["store_vectors"] == 400 and info["images_broken"] == 0
    # The labels init was asked for are not lost with it: `add` imports them.
    assert "labels from folders: 400 imported" in out and info["labeled"] == 400
    assert "labels from folders" not in invoke("add", project).output  # once only
