"""A real server process: eight annotators at once, and a SIGKILL in the middle of a retrain."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
import sqlalchemy

from tests.utils.server import ServerProcess, make_project


@pytest.fixture(params=["sqlite", "postgresql"])
def big_project(request, tmp_path, big_fashion_folder):
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    project, _ = make_project(tmp_path / "proj", big_fashion_folder, db_url)
    tokens = {}
    from labelwise.project.users import add_user

    for i in range(8):
        tokens[f"a{i}"] = add_user(project, f"annotator-{i}", "annotator")
    admin = add_user(project, "boss", "admin")
    from labelwise.project.settings import update_settings

    # One annotator takes 25 images in one call below: above the default cap on live leases.
    update_settings(project, {"max_leases_per_user": 25}, "test")
    db = project.db_url
    project.close()
    return tmp_path / "proj", tokens, admin, db


def annotate_until_empty(url: str, token: str, results: dict, errors: list) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for _ in range(600):  # bounded: 530 images can never need more rounds than this
            r = c.post("/api/queue/next", json={"n": 3})
            if r.status_code != 200:
                errors.append(f"queue {r.status_code} {r.text}")
                return
            items = r.json()["items"]
            if not items:
                return
            for item in items:
                r = c.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"})
                if r.status_code == 201:
                    results.setdefault(token, []).append(item["image_id"])
                else:
                    errors.append(f"annotate {r.status_code} {r.text}")


def test_eight_annotators_label_every_image_once(big_project):
    folder, tokens, admin, db_url = big_project
    server = ServerProcess(folder)
    server.start()
    try:
        results: dict[str, list[int]] = {}
        errors: list[str] = []
        threads = [threading.Thread(target=annotate_until_empty, args=(server.url, t, results, errors))
                   for t in tokens.values()]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, (errors[:5], server.log_tail())
        labeled = [i for ids in results.values() for i in ids]
        counts = Counter(labeled)
        assert len(labeled) == 530 and max(counts.values()) == 1  # every image once, none twice
        assert len(results) == 8  # everybody got work
        status = httpx.get(server.url + "/api/status", headers={"Authorization": f"Bearer {admin}"}).json()
        assert status["labeled"] == 530 and status["unlabeled"] == 0
    finally:
        server.stop()
    engine = sqlalchemy.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text("select image_id, count(*) from annotations group by image_id")).all()
        assert len(rows) == 530 and {n for _, n in rows} == {1}
        assert conn.execute(sqlalchemy.text("select count(*) from leases where not done")).scalar() == 0
    engine.dispose()


def test_sigkill_during_a_retrain_loses_no_acknowledged_label(big_project):
    folder, tokens, admin, _ = big_project
    server = ServerProcess(folder)
    server.start()
    acknowledged = []
    headers = {"Authorization": f"Bearer {tokens['a0']}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            items = c.post("/api/queue/next", json={"n": 25}).json()["items"]
            for item in items:
                r = c.post("/api/annotations", json={"image_id": item["image_id"], "label": "Coat"})
                assert r.status_code == 201
                acknowledged.append(r.json()["id"])
            httpx.post(server.url + "/api/train", headers={"Authorization": f"Bearer {admin}"})
            deadline = time.monotonic() + 30
            while not c.get("/api/status").json()["training"] and time.monotonic() < deadline:
                time.sleep(0.02)
        server.kill()  # SIGKILL, in the middle of training when the loop above saw it start
    finally:
        server.stop()
    server = ServerProcess(folder)
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as c:
            export = c.get("/api/export?format=json").json()
            assert len(export) == 25 and {r["label"] for r in export} == {"Coat"}
            items = c.post("/api/queue/next", json={"n": 5}).json()["items"]
            assert len(items) == 5
            r = c.post("/api/annotations", json={"image_id": items[0]["image_id"], "label": "Bag"})
            assert r.status_code == 201
            assert c.get("/api/status").json()["labeled"] == 26
    finally:
        server.stop()
