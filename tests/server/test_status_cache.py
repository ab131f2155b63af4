"""``GET /api/status`` is cached per state of the project: computed once while nothing changes,
and computed again as soon as a label, a model version, an image or a class changes."""

from __future__ import annotations

import hashlib

import numpy as np
import sqlalchemy
from fastapi.testclient import TestClient
from PIL import Image as PILImage

import labelwise.project.dashboard as status_module
from labelwise.project import Project
from labelwise.project.users import add_user
from labelwise.server.app import create_app
from labelwise.store.models import STATUS_OK, Image


def test_status_is_computed_again_only_when_the_project_changes(tmp_path, monkeypatch):
    (tmp_path / "images").mkdir()
    PILImage.new("RGB", (8, 8)).save(tmp_path / "images" / "placeholder.png")
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet")
    project.add_classes(["a", "b"])
    keys = [hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest() for i in range(30)]
    project.store.add(keys, np.random.default_rng(0).normal(size=(30, 512)).astype(np.float32))
    with project.engine.begin() as conn:
        conn.execute(sqlalchemy.insert(Image), [
            {"path": f"{i}.png", "size_bytes": 1, "mtime_ns": 0, "content_hash": k, "width": 8, "height": 8,
             "status": STATUS_OK} for i, k in enumerate(keys)
        ])  # fmt: skip
    admin = add_user(project, "boss", "admin")
    project.close()
    computed = []
    real = status_module.compute_status
    monkeypatch.setattr(status_module, "compute_status", lambda p, r, t: computed.append(1) or real(p, r, t))
    app = create_app(tmp_path / "proj", start_worker=False)
    try:
        client = TestClient(app, headers={"Authorization": f"Bearer {admin}"})
        first = client.get("/api/status").json()
        assert client.get("/api/status").json() == first and len(computed) == 1
        item = client.post("/api/queue/next", json={"n": 1}).json()["items"][0]
        assert client.post("/api/annotations", json={"image_id": item["image_id"], "label": "b"}).status_code == 201
        after_label = client.get("/api/status").json()
        assert after_label["labeled"] == 1 and after_label["classes"]["b"] == 1 and len(computed) == 2
        client.post("/api/classes", json={"name": "c"})
        assert "c" in client.get("/api/status").json()["classes"] and len(computed) == 3
        assert client.get("/api/status").json()["labeled"] == 1 and len(computed) == 3
    finally:
        app.state.retrainer.stop()
        app.state.project.close()
        app.state.retrainer.project.close()
