"""A real project for the server tests, on SQLite and on PostgreSQL, and a real server process."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelwise.server.app import create_app
from tests.utils.images import write_fashion_folder
from tests.utils.server import Client, make_project


@pytest.fixture(params=["sqlite", "postgresql"])
def server_project(request, tmp_path, fashion_folder):
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    project, tokens = make_project(tmp_path / "proj", fashion_folder, db_url)
    project.close()
    return tmp_path / "proj", tokens


@pytest.fixture
def client(server_project):
    folder, tokens = server_project
    app = create_app(folder, start_worker=False)
    yield Client(app, tokens)
    app.state.retrainer.stop()
    app.state.project.close()
    app.state.retrainer.project.close()


@pytest.fixture(scope="session")
def big_fashion_folder(tmp_path_factory) -> Path:
    return write_fashion_folder(tmp_path_factory.mktemp("fashion-big") / "images", per_class=53, offset=5000)
