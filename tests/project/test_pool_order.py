"""Ingest order (sorted paths, one folder per class) must not decide what is served or compared."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.pool import load_pool, stop_set
from labelwise.project.queue import _fallback_chunk
from labelwise.project.settings import get_settings
from labelwise.project.training import train_and_rank
from labelwise.project.users import add_user
from labelwise.server.app import create_app
from labelwise.store import db
from labelwise.store.models import random_order_key, utcnow
from tests.utils.images import write_class_folders

FOLDERS = ("apple", "banana", "cherry")


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory) -> Path:
    return write_class_folders(tmp_path_factory.mktemp("fruit") / "images", FOLDERS, per_folder=40)


def folder_of(path: str) -> str:
    return path.split("/", 1)[0]


def test_a_fresh_project_in_class_folders_serves_its_first_images_from_every_folder(tmp_path, class_folders):
    project = Project.create(tmp_path / "proj", class_folders, backbone="squeezenet")
    project.add_classes(list(FOLDERS))
    ingest_folder(project)
    token = add_user(project, "ann", "annotator")
    project.close()
    app = create_app(tmp_path / "proj", start_worker=False)
    try:
        ann = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        items = []
        for _ in range(3):  # as a person would: ten at a time, nothing ranked yet
            batch = ann.post("/api/queue/next", json={"n": 10}).json()["items"]
            for item in batch:
                assert ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "apple"}).is_success
            items += batch
    finally:
        app.state.retrainer.stop()
        app.state.project.close()
        app.state.retrainer.project.close()
    assert len(items) == 30 and all(i["strategy"] == "fallback: unranked" for i in items)
    with project.sessions() as session:
        paths = dict(session.execute(sqlalchemy.text("select id, path from images")).all())
    served = [paths[i["image_id"]] for i in items]
    assert {folder_of(p) for p in served} == set(FOLDERS), served
    # The order is the project's random keys, fixed: the same for the same files.
    assert served == sorted(paths.values(), key=random_order_key)[:30]


def test_a_fresh_project_in_class_folders_ranks_its_first_images_from_more_than_one_folder(tmp_path, class_folders):
    # The other half of issue 17's check: the first ranking (0 labels, default `auto`) of a pool
    # ingested folder by folder must not serve the first folder first either.
    project = Project.create(tmp_path / "proj", class_folders, backbone="squeezenet")
    project.add_classes(list(FOLDERS))
    ingest_folder(project)
    ranking, _ = train_and_rank(project, get_settings(project), seed=0)
    pool = load_pool(project)
    path_of = dict(zip(pool.image_ids.tolist(), pool.paths, strict=True))
    project.close()
    served = [path_of[e.image_id] for e in ranking.entries[:30]]
    assert len(served) == 30 and len({folder_of(p) for p in served}) > 1, served


def test_the_stop_set_samples_every_folder_and_stays_put_as_the_pool_grows(tmp_path, class_folders):
    images = tmp_path / "images"
    write_class_folders(images, FOLDERS, per_folder=20)
    project = Project.create(tmp_path / "proj", images, backbone="squeezenet")
    ingest_folder(project)
    pool = load_pool(project)
    before = {pool.paths[i] for i in stop_set(pool, 15)}
    assert len(before) == 15 and {folder_of(p) for p in before} == set(FOLDERS)
    write_class_folders(images, ("date",), per_folder=20)
    ingest_folder(project)
    pool = load_pool(project)
    after = {pool.paths[i] for i in stop_set(pool, 15)}
    # New images may displace members; no old image that was out comes in.
    assert len(after) == 15 and after - before <= {p for p in pool.paths if p.startswith("date/")}
    assert len(after & before) >= 8  # a quarter of the pool is new: most of the set stays
    project.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_gives_existing_images_their_keys_and_the_index(request, tmp_path, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else db.sqlite_url(tmp_path / "old.db")
    engine = db.make_engine(url)
    command.upgrade(db.alembic_config(engine), "0002")  # a database made by the previous labelwise
    paths = [f"{name}/{j:04d}.png" for name in FOLDERS for j in range(7)]
    with engine.begin() as conn:
        for path in paths:
            conn.execute(
                sqlalchemy.text("insert into images (path, status, added_at) values (:p, 'ok', CURRENT_TIMESTAMP)"),
                {"p": path},
            )
    db.upgrade(engine)
    with engine.connect() as conn:
        keys = dict(conn.execute(sqlalchemy.text("select path, rand_key from images")).all())
    assert keys == {p: random_order_key(p) for p in paths}
    indexes = {ix["name"]: ix["column_names"] for ix in sqlalchemy.inspect(engine).get_indexes("images")}
    assert indexes["ix_images_rand_key"] == ["status", "rand_key", "id"]
    engine.dispose()


def test_the_fallback_walks_the_index_instead_of_sorting(tmp_path):
    engine = db.make_engine(db.sqlite_url(tmp_path / "plan.db"))
    db.upgrade(engine)
    statements = []

    def record(conn, cursor, sql, params, context, many) -> None:
        statements.append((sql, params))

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    with Session(engine) as session:
        assert _fallback_chunk(session, utcnow(), 1, exclude=[]) == []
    ((sql, params),) = statements
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "ix_images_rand_key" in plan and "TEMP B-TREE" not in plan, plan
    engine.dispose()
