"""One-key accept through the API: queue items carry the pre-selected class, labels record whether
they accepted it, and the status counts acceptances and later corrections."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.store.models import Annotation


def true_class(item: dict) -> str:
    return item["path"].split("/")[0]  # the fixture's folders are the classes


def trained(client, rounds: int = 2) -> None:
    """A model on 20 labels per round (an annotator holds at most 20 leases)."""
    retrainer = client.app.state.retrainer
    retrainer.train_now()
    for _ in range(rounds):
        for item in client.ann.post("/api/queue/next", json={"n": 20}).json()["items"]:
            r = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": true_class(item)})
            assert r.status_code == 201
    retrainer.train_now()
    assert retrainer.last_error is None and retrainer.ranking.version is not None


def test_queue_items_preselect_the_top_class_at_the_threshold_once_a_model_exists(client):
    before = client.bob.post("/api/queue/next", json={"n": 5}).json()["items"]
    assert [i["preselected"] for i in before] == [None] * 5  # no model yet
    trained(client)
    items = client.ann.post("/api/queue/next", json={"n": 20}).json()["items"]
    assert all(len(i["top"]) >= 2 for i in items)
    expected = [i["top"][0]["class"] if i["top"][0]["p"] >= 0.6 else None for i in items]
    assert [i["preselected"] for i in items] == expected
    assert client.admin.put("/api/settings", json={"preselect_threshold": None}).status_code == 200
    again = client.ann.post("/api/queue/next", json={"n": 20}).json()["items"]
    assert [i["preselected"] for i in again] == [None] * 20
    assert client.admin.put("/api/settings", json={"preselect_threshold": 0.0}).status_code == 200
    again = client.ann.post("/api/queue/next", json={"n": 20}).json()["items"]
    assert [i["preselected"] for i in again] == [i["top"][0]["class"] for i in again]
    r = client.admin.put("/api/settings", json={"preselect_threshold": 1.5})
    assert r.status_code == 422 and "preselect_threshold" in r.json()["detail"]


def test_labels_record_the_accepted_preselection_and_the_status_counts_corrections(client, tmp_path):
    trained(client)
    assert client.admin.put("/api/settings", json={"preselect_threshold": 0.0}).status_code == 200
    a, b, c, d = client.ann.post("/api/queue/next", json={"n": 4}).json()["items"]
    other = next(name for name in client.ann.get("/api/classes").json()["classes"] if name["name"] != a["preselected"])
    post = client.ann.post
    bad = post("/api/annotations", json={"image_id": d["image_id"], "label": "Coat", "preselected": "Nope"})
    assert bad.status_code == 422 and "preselected" in bad.json()["detail"]

    def give(item: dict, label: str) -> None:
        body = {"image_id": item["image_id"], "label": label, "preselected": item["preselected"], "queued": True}
        assert post("/api/annotations", json=body).status_code == 201

    give(a, a["preselected"])
    give(b, b["top"][1]["class"])  # the annotator chose the model's second class instead
    give(c, c["preselected"])
    # A reviewer corrects the first accepted pre-selection.
    assert (
        client.admin.post("/api/annotations", json={"image_id": a["image_id"], "label": other["name"]}).status_code
        == 201
    )
    project = client.app.state.project
    with project.sessions() as session:
        rows = {r.image_id: r for r in session.scalars(select(Annotation).where(Annotation.preselected.is_not(None)))}
    assert rows[a["image_id"]].preselect_accepted is True and rows[a["image_id"]].preselected == a["preselected"]
    assert rows[b["image_id"]].preselect_accepted is False and rows[b["image_id"]].preselected == b["preselected"]
    assert rows[c["image_id"]].preselect_accepted is True
    expected = {"offered": 3, "accepted": 2, "acceptance_rate": 2 / 3, "accepted_corrected": 1, "corrected_rate": 0.5}
    assert client.ann.get("/api/status").json()["preselection"] == expected
    assert "2</b> of 3 accepted (67%), 1 of those corrected later" in client.ann.get("/").text
    result = CliRunner().invoke(app, ["status", str(project.folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["preselection"] == expected
