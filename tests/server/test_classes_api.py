"""Class maintenance over HTTP (issue 20, item 11), on SQLite and PostgreSQL: admins rename, merge,
retire and restore; annotators cannot; retired classes are not offered but their labels stay."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote

from sqlalchemy import select, update

from labelwise.store.models import Annotation


def export_labels(client) -> dict[str, str]:
    text = client.admin.get("/api/export?format=csv").text
    return {r["path"]: r["label"] for r in csv.DictReader(io.StringIO(text))}


def annotate_config(client) -> dict:
    page = client.ann.get("/annotate").text
    start = page.index('id="annotate-config">') + len('id="annotate-config">')
    return json.loads(page[start : page.index("</script>", start)])


def test_admins_rename_merge_retire_and_restore_classes(client):
    items = client.ann.post("/api/queue/next", json={"n": 4}).json()["items"]
    ids = [i["image_id"] for i in items]
    for image_id, label in zip(ids, ["Shirt", "Shirt", "Bag", "Coat"], strict=True):
        assert client.ann.post("/api/annotations", json={"image_id": image_id, "label": label}).status_code == 201
    # An audit prediction is stored by name: after the rename it must still name the class.
    with client.app.state.project.sessions.begin() as session:
        session.execute(update(Annotation).where(Annotation.image_id == ids[3]).values(predicted="Coat"))

    assert client.ann.put("/api/classes/Coat", json={"name": "Jacket"}).status_code == 403
    renamed = client.admin.put("/api/classes/Coat", json={"name": "Jacket"})
    assert renamed.status_code == 200, renamed.text
    assert "Jacket" in [c["name"] for c in renamed.json()["classes"]]
    assert renamed.json()["history"][0] == renamed.json()["history"][0] | {
        "action": "rename",
        "old_name": "Coat",
        "new_name": "Jacket",
        "by": "ada",
    }
    paths = {i["image_id"]: i["path"] for i in items}
    assert export_labels(client)[paths[ids[3]]] == "Jacket"
    with client.app.state.project.sessions() as session:
        predicted = session.scalars(select(Annotation.predicted).where(Annotation.image_id == ids[3])).all()
        assert predicted == ["Jacket"]
    refused = client.ann.post("/api/annotations", json={"image_id": ids[3], "label": "Coat"})
    assert refused.status_code == 422 and "unknown class 'Coat'" in refused.json()["detail"]

    # Merge: both Shirt labels move to T-shirt-top, Shirt is retired and no longer offered.
    merged = client.admin.post("/api/classes/Shirt/merge", json={"into": "T-shirt-top"})
    assert merged.status_code == 200, merged.text
    shirt = next(c for c in merged.json()["classes"] if c["name"] == "Shirt")
    assert shirt == shirt | {"retired": True, "labels": 0}
    assert merged.json()["history"][0]["labels_moved"] == 2
    labels = export_labels(client)
    assert [labels[paths[i]] for i in ids[:2]] == ["T-shirt-top", "T-shirt-top"]
    assert "Shirt" not in annotate_config(client)["classes"]
    refused = client.ann.post("/api/annotations", json={"image_id": ids[0], "label": "Shirt"})
    assert refused.status_code == 422 and "retired" in refused.json()["detail"]

    # Retire: Bag is not offered any more, its label stays in the export and in the grid's filters.
    assert client.admin.post(f"/api/classes/{quote('Bag')}/retire").status_code == 200
    config = annotate_config(client)
    assert "Bag" not in config["classes"] and len(config["keys"]) == len(config["classes"]) == 8
    assert export_labels(client)[paths[ids[2]]] == "Bag"
    grid = client.ann.get("/api/images?label=Bag").json()
    assert [i["image_id"] for i in grid["items"]] == [ids[2]]
    assert "Bag (retired)" in client.ann.get("/images").text

    # Mistakes are refused with the field at fault; a restore brings Bag back.
    assert client.admin.post("/api/classes/Bag/retire").status_code == 409
    assert client.admin.post("/api/classes/Coat/retire").status_code == 404
    assert client.admin.post("/api/classes/Dress/merge", json={"into": "Bag"}).status_code == 409
    assert client.admin.put("/api/classes/Dress", json={"name": "Bag"}).status_code == 409
    bad = client.admin.put("/api/classes/Dress", json={"name": "a/b"})
    assert bad.status_code == 422 and "slash" in bad.json()["detail"]
    assert client.admin.post("/api/classes", json={"name": "Bag"}).status_code == 201
    assert client.admin.post("/api/classes", json={"name": "Bag"}).status_code == 409
    assert "Bag" in annotate_config(client)["classes"]
    history = client.ann.get("/api/classes").json()["history"]
    assert [h["action"] for h in history] == ["restore", "retire", "merge", "rename"]


def test_new_class_names_may_not_hold_a_semicolon(client):
    """Label sets are ';'-joined in CSV files: a new or renamed class may not hold one (a 422 naming the
    field); the classes stay as they were."""
    before = client.admin.get("/api/classes").json()["classes"]
    added = client.admin.post("/api/classes", json={"name": "Bag;Coat"})
    renamed = client.admin.put("/api/classes/Coat", json={"name": "Coat; Jacket"})
    for refused in (added, renamed):
        assert refused.status_code == 422 and "body.name" in refused.json()["detail"], refused.text
        assert "';'" in refused.json()["detail"]
    assert client.admin.get("/api/classes").json()["classes"] == before
    assert client.admin.post("/api/classes", json={"name": "Jacket"}).status_code == 201
