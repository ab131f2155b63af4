"""Fixtures that build small real data: real image files, real project folders, real databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.utils.images import write_bad_input_folder, write_fashion_folder
from tests.utils.postgres import PG_ADMIN_URL, can_connect, throwaway_postgres


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Caches (exported models, embeddings) go to a folder of this test run, not the user's."""
    cache = tmp_path_factory.mktemp("labelwise-cache")
    old = os.environ.get("LABELWISE_CACHE")
    os.environ["LABELWISE_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("LABELWISE_CACHE", None)
    else:
        os.environ["LABELWISE_CACHE"] = old


@pytest.fixture
def bad_input_folder(tmp_path) -> tuple[Path, dict[str, str | None]]:
    root = tmp_path / "images"
    return root, write_bad_input_folder(root)


@pytest.fixture(scope="session")
def fashion_folder(tmp_path_factory) -> Path:
    return write_fashion_folder(tmp_path_factory.mktemp("fashion") / "images", per_class=20)


@pytest.fixture(scope="session")
def postgres_admin_url():
    if can_connect(PG_ADMIN_URL):
        yield PG_ADMIN_URL
        return
    import shutil
    import subprocess
    import tempfile

    # Not under pytest's tmp folder: that one is private to us, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="labelwise-pg-"))
    os.chmod(folder, 0o777)
    try:
        url, stop = throwaway_postgres(folder)
        try:
            yield url
        finally:
            subprocess.run(stop, capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_admin_url):
    """A fresh database for one test, dropped afterwards."""
    import uuid

    import sqlalchemy

    name = f"labelwise_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield str(sqlalchemy.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
