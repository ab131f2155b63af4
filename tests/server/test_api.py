"""Every endpoint, including each failure, against SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, timedelta

import pytest
from sqlalchemy import update

from labelwise.store.models import Lease, utcnow


def train(client) -> None:
    client.app.state.retrainer.train_now()
    assert client.app.state.retrainer.last_error is None


def test_no_anonymous_access(client):
    urls = [("get", "/api/status"), ("post", "/api/queue/next"), ("get", "/api/settings"),
            ("get", "/api/images/1/file"), ("get", "/api/openapi.json"), ("get", "/api/export")]  # fmt: skip
    for method, url in urls:
        assert getattr(client.anon, method)(url).status_code == 401, url
    bad = client.anon.get("/api/status", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "valid token" in bad.json()["detail"]
    page = client.anon.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "Log in" in page.text


def test_login_link_sets_a_cookie_that_opens_the_pages(client, server_project):
    _, tokens = server_project
    response = client.anon.get(f"/login?token={tokens['ann']}", follow_redirects=False)
    assert response.status_code == 303 and "labelwise_session" in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()
    for page in ("/", "/annotate", "/images"):
        assert client.anon.get(page).status_code == 200, page
    assert client.anon.get("/export").status_code == 403  # annotators do not export
    assert client.anon.get("/login?token=wrong").status_code == 401


def test_annotators_cannot_change_settings_add_classes_export_or_retrain(client):
    assert client.ann.put("/api/settings", json={"explore": 0.2}).status_code == 403
    assert client.ann.post("/api/classes", json={"name": "Hat"}).status_code == 403
    assert client.ann.get("/api/export?format=csv").status_code == 403
    assert client.ann.post("/api/train").status_code == 403
    assert client.ann.get("/api/settings").status_code == 200
    assert client.ann.get("/api/openapi.json").json()["paths"]["/api/queue/next"]


def test_queue_leases_disjoint_images_with_reasons(client):
    train(client)
    a = client.ann.post("/api/queue/next", json={"n": 5}).json()["items"]
    b = client.bob.post("/api/queue/next", json={"n": 5}).json()["items"]
    assert len(a) == len(b) == 5
    assert not {i["image_id"] for i in a} & {i["image_id"] for i in b}
    assert a[0]["strategy"] == "auto: typiclust" and a[0]["model_version"] == 1
    assert a[0]["file_url"] == f"/api/images/{a[0]['image_id']}/file"
    # Asking again returns what you hold, renewed, before anything new.
    again = client.ann.post("/api/queue/next", json={"n": 6}).json()["items"]
    assert {i["image_id"] for i in a} < {i["image_id"] for i in again} and len(again) == 6
    too_many = client.ann.post("/api/queue/next", json={"n": 1000})
    assert too_many.status_code == 422 and "body.n" in too_many.json()["detail"]


def test_annotation_errors_name_the_problem(client):
    item = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    unknown_image = client.ann.post("/api/annotations", json={"image_id": 99999, "label": "Bag"})
    assert unknown_image.status_code == 404 and "99999" in unknown_image.json()["detail"]
    unknown_class = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "Kitten"})
    assert unknown_class.status_code == 422 and "unknown class 'Kitten'" in unknown_class.json()["detail"]
    malformed = client.ann.post("/api/annotations", content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422 and "malformed JSON" in malformed.json()["detail"]
    missing = client.ann.post("/api/annotations", json={"image_id": item["image_id"]})
    assert missing.status_code == 422 and "body.label" in missing.json()["detail"]
    huge = client.ann.post("/api/annotations", content=b"x" * 100_000, headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    taken = client.bob.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"})
    assert taken.status_code == 409 and "leased to ann" in taken.json()["detail"]
    ok = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"})
    assert ok.status_code == 201 and ok.json()["label"] == "Bag"


def test_late_labels_after_an_expired_lease(client):
    project = client.app.state.project
    first, second = client.ann.post("/api/queue/next", json={"n": 2}).json()["items"]
    with project.sessions.begin() as session:  # both of ann's leases run out
        session.execute(update(Lease).values(expires_at=utcnow() - timedelta(minutes=1)))
    # Nobody took the first one since: ann's late label is kept.
    assert client.ann.post("/api/annotations", json={"image_id": first["image_id"], "label": "Coat"}).status_code == 201
    # The second went back to the queue and bob leased it: ann's late label is refused.
    bob_items = client.bob.post("/api/queue/next", json={"n": 3}).json()["items"]
    assert second["image_id"] in {i["image_id"] for i in bob_items}
    late = client.ann.post("/api/annotations", json={"image_id": second["image_id"], "label": "Coat"})
    assert late.status_code == 409


def test_the_heartbeat_renews_only_your_open_leases_and_a_queued_label_never_replaces_another(client):
    project = client.app.state.project
    first, second = client.ann.post("/api/queue/next", json={"n": 2}).json()["items"]
    with project.sessions.begin() as session:  # ann's leases are about to run out...
        session.execute(update(Lease).values(expires_at=utcnow() + timedelta(seconds=1)))
    renewed = client.ann.post("/api/queue/renew", json={"image_ids": [first["image_id"], second["image_id"]]})
    assert renewed.json()["renewed"] == sorted([first["image_id"], second["image_id"]])
    with project.sessions.begin() as session:  # ...the heartbeat gave them a full lease again
        assert session.get(Lease, first["image_id"]).expires_at.replace(tzinfo=UTC) > utcnow() + timedelta(minutes=9)
    assert client.bob.post("/api/queue/renew", json={"image_ids": [first["image_id"]]}).json()["renewed"] == []
    # Ann's lease of the second ran out unnoticed; bob labeled it; her queued label is refused, his stays.
    with project.sessions.begin() as session:
        session.get(Lease, second["image_id"]).expires_at = utcnow() - timedelta(minutes=1)
    assert client.bob.post("/api/annotations", json={"image_id": second["image_id"], "label": "Bag"}).status_code == 201
    late = client.ann.post("/api/annotations", json={"image_id": second["image_id"], "label": "Coat", "queued": True})
    assert late.status_code == 409 and "labeled by bob" in late.json()["detail"]
    assert client.ann.post("/api/queue/renew", json={"image_ids": [second["image_id"]]}).json()["renewed"] == []
    # Relabeling on purpose (grid, review: not queued) stays possible, with history.
    relabel = client.ann.post("/api/annotations", json={"image_id": second["image_id"], "label": "Coat"})
    assert relabel.status_code == 201


def test_undo_restores_the_previous_label_and_requeues(client):
    item = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    first = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"}).json()
    second = client.admin.post("/api/annotations", json={"image_id": item["image_id"], "label": "Coat"}).json()
    assert client.bob.delete(f"/api/annotations/{second['id']}").status_code == 403
    assert client.admin.delete(f"/api/annotations/{second['id']}").status_code == 200
    export = client.admin.get("/api/export?format=json").json()
    assert [r["label"] for r in export] == ["Bag"]
    assert client.ann.delete(f"/api/annotations/{first['id']}").status_code == 200
    assert client.admin.get("/api/export?format=json").json() == []
    # Back in ann's queue, at the front.
    assert client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]["image_id"] == item["image_id"]
    assert client.ann.delete("/api/annotations/424242").status_code == 404


def test_skipped_images_go_to_others_not_back_to_the_skipper(client):
    train(client)
    item = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    assert client.ann.post("/api/skip", json={"image_id": item["image_id"]}).status_code == 200
    mine = client.ann.post("/api/queue/next", json={"n": 20}).json()["items"]
    assert item["image_id"] not in {i["image_id"] for i in mine}
    theirs = client.bob.post("/api/queue/next", json={"n": 30}).json()["items"]
    assert item["image_id"] in {i["image_id"] for i in theirs}
    assert client.ann.post("/api/skip", json={"image_id": 99999}).status_code == 404


def test_settings_are_validated_and_every_change_recorded(client):
    assert client.admin.get("/api/settings").json()["strategy"] == "auto"
    changed = client.admin.put("/api/settings", json={"strategy": "margin", "explore": 0.1, "candidates": 100})
    assert changed.status_code == 200 and changed.json()["strategy"] == "margin"
    bad = client.admin.put("/api/settings", json={"strategy": "psychic"})
    assert bad.status_code == 422 and "settings.strategy" in bad.json()["detail"]
    unknown = client.admin.put("/api/settings", json={"colour": "red", "explore": 0.5})
    assert unknown.status_code == 422 and "settings.colour" in unknown.json()["detail"]
    assert client.admin.get("/api/settings").json()["explore"] == 0.1  # nothing written by a bad request
    out_of_range = client.admin.put("/api/settings", json={"explore": 3})
    assert out_of_range.status_code == 422 and "settings.explore" in out_of_range.json()["detail"]
    history = client.admin.get("/api/status").json()["settings_history"]
    assert {(h["key"], h["new"], h["by"]) for h in history} == {
        ("strategy", "margin", "ada"),
        ("explore", 0.1, "ada"),
        ("candidates", 100, "ada"),
    }


def test_admin_adds_a_class_and_trains_on_demand(client):
    assert client.admin.post("/api/classes", json={"name": "Hat"}).json()["classes"][-1] == "Hat"
    assert client.admin.post("/api/classes", json={"name": "Hat"}).status_code == 409
    assert client.admin.post("/api/train").status_code == 202
    assert client.app.state.retrainer.due()


def test_files_thumbs_and_no_paths_from_requests(client):
    item = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    project = client.app.state.project
    raw = client.ann.get(item["file_url"])
    assert raw.status_code == 200 and raw.content == (project.images_root / item["path"]).read_bytes()
    thumb = client.ann.get(item["thumb_url"])
    assert (
        thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    )
    assert client.ann.get("/api/images/99999/file").status_code == 404
    for evil in ("/api/images/..%2F..%2Fetc%2Fpasswd/file", "/api/images/%2Fetc%2Fpasswd/file"):
        assert client.ann.get(evil).status_code in (404, 422), evil


def test_exports(client):
    train(client)
    items = client.ann.post("/api/queue/next", json={"n": 3}).json()["items"]
    for item, label in zip(items, ["Bag", "Coat", "Bag"], strict=True):
        client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": label})
    rows = list(csv.DictReader(io.StringIO(client.admin.get("/api/export?format=csv").text)))
    assert len(rows) == 3 and list(rows[0]) == ["path", "label", "annotator", "time", "model_version", "strategy",
                                                 "score", "flag"]  # fmt: skip
    assert {r["annotator"] for r in rows} == {"ann"} and {r["model_version"] for r in rows} == {"1"}
    assert {r["strategy"] for r in rows} == {"auto: typiclust"}
    coco = json.loads(client.admin.get("/api/export?format=coco").text)
    assert len(coco["images"]) == 3 and len(coco["annotations"]) == 3 and len(coco["categories"]) == 10
    bag = next(c["id"] for c in coco["categories"] if c["name"] == "Bag")
    assert sum(a["category_id"] == bag for a in coco["annotations"]) == 2
    assert client.admin.get("/api/export?format=xml").status_code == 422
    for fmt, name in [("csv", "labels.csv"), ("json", "labels.json"), ("coco", "labels.coco.json"),
                      ("label-studio", "labels.label-studio.json")]:  # fmt: skip
        disposition = client.admin.get(f"/api/export?format={fmt}").headers["content-disposition"]
        assert disposition == f'attachment; filename="{name}"', fmt
    folder = client.admin.post("/api/export/imagefolder").json()
    assert folder["images"] == 3 and folder["hard_links"] == 3
    from pathlib import Path

    assert sorted(p.parent.name for p in Path(folder["folder"]).rglob("*.png")) == ["Bag", "Bag", "Coat"]


def test_status_and_grid(client):
    train(client)
    status = client.ann.get("/api/status").json()
    assert status["images_ok"] == 200 and status["model"]["version"] == 1 and status["queue_length"] == 200
    assert {c["name"] for c in status["stopping"]} >= {"stabilizing predictions", "low uncertainty"}
    grid = client.ann.get("/api/images?labeled=false&limit=5").json()
    assert grid["total"] == 200 and len(grid["items"]) == 5
    assert client.ann.get("/api/images?sort=weird").status_code == 422
    assert client.ann.get("/api/images?label=Kitten").status_code == 422


def test_a_failed_training_is_shown_and_loses_nothing(client):
    project = client.app.state.project
    item = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"})
    (project.folder / "embeddings" / "squeezenet" / "keys.bin").write_bytes(b"")  # the store is gone
    client.app.state.project.__dict__.pop("store", None)
    client.app.state.retrainer.project.__dict__.pop("store", None)
    client.app.state.retrainer.train_now()
    status = client.ann.get("/api/status").json()
    assert status["training_error"] is not None and "no embedding" in status["training_error"]["error"]
    assert status["labeled"] == 1
    nxt = client.bob.post("/api/queue/next", json={"n": 2})
    assert nxt.status_code == 200 and len(nxt.json()["items"]) == 2  # the queue still works
    page = client.admin.get("/")
    assert "Retraining" in page.text and "failed" in page.text


@pytest.mark.parametrize("retrain_every", [3])
def test_the_worker_retrains_after_retrain_every_labels(server_project, retrain_every):
    from fastapi.testclient import TestClient

    from labelwise.server.app import create_app

    folder, tokens = server_project
    app = create_app(folder)
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['admin']}"}) as c:
        deadline = time.monotonic() + 60
        while c.get("/api/status").json()["serving_version"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        c.put("/api/settings", json={"retrain_every": retrain_every})
        items = c.post("/api/queue/next", json={"n": retrain_every}).json()["items"]
        for item, label in zip(items, ["Bag", "Coat", "Bag"], strict=True):
            c.post("/api/annotations", json={"image_id": item["image_id"], "label": label})
        while c.get("/api/status").json()["serving_version"] == 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        status = c.get("/api/status").json()
        assert status["serving_version"] == 2 and status["model"]["n_labels"] == 3
        # The default head, auto, says which head it chose for this retrain and why; so does the dashboard.
        assert status["settings"]["head"] == "auto"
        assert status["serving_head"] in {"logistic", "label-spreading", "self-training"}
        assert status["serving_head_reason"].startswith("auto: ") and "held-out" in status["serving_head_reason"]
        page = c.get("/").text
        assert 'id="serving-head"' in page and f"<b>{status['serving_head']}</b>" in page
