"""Overlap over HTTP (issue 13), on SQLite and PostgreSQL: an admin turns overlap on; a second person
is served the first person's images as second opinions, without a prediction; /api/status and the
dashboard show the agreement; a tie is listed for review and an admin's decision resolves it."""

from __future__ import annotations


def test_second_opinions_agreement_and_disputes_over_http(client):
    assert client.ann.put("/api/settings", json={"overlap": 1.0}).status_code == 403
    saved = client.admin.put("/api/settings", json={"overlap": 1.0, "labels_per_overlap_image": 2})
    assert saved.status_code == 200, saved.text
    bad = client.admin.put("/api/settings", json={"labels_per_overlap_image": 1})
    assert bad.status_code == 422 and "labels_per_overlap_image" in bad.json()["detail"]

    items = client.ann.post("/api/queue/next", json={"n": 4}).json()["items"]
    truth = {i["image_id"]: i["path"].split("/")[0] for i in items}
    for item in items:
        r = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": truth[item["image_id"]],
                                                      "queued": True})  # fmt: skip
        assert r.status_code == 201, r.text
    served = client.bob.post("/api/queue/next", json={"n": 6}).json()["items"]
    opinions = [i for i in served if i["strategy"] == "second opinion"]
    assert sorted(i["image_id"] for i in opinions) == sorted(truth)  # all four, before any new image
    assert [i["strategy"] for i in served[:4]] == ["second opinion"] * 4
    assert all(i["top"] == [] and i["preselected"] is None for i in opinions)
    # ann is never served her own images again.
    assert not set(truth) & {i["image_id"] for i in client.ann.post("/api/queue/next", json={"n": 10}).json()["items"]}

    ids = sorted(truth)
    other = next(c for c in ("Coat", "Sandal") if c != truth[ids[0]])
    given = {}
    for image_id in ids:
        label = other if image_id == ids[0] else truth[image_id]
        r = client.bob.post("/api/annotations", json={"image_id": image_id, "label": label, "queued": True})
        assert r.status_code == 201, r.text
        given[image_id] = r.json()["id"]
    again = client.bob.post("/api/annotations", json={"image_id": ids[1], "label": truth[ids[1]], "queued": True})
    assert again.status_code == 409 and "already gave" in again.json()["detail"]

    agreement = client.ann.get("/api/status").json()["agreement"]
    assert agreement["measure"] == "cohen" and agreement["kappa_images"] == 4
    assert agreement["images_with_opinions"] == 4 and agreement["disputed"] == 1
    assert {a["name"]: (a["agreement"], a["n_images"]) for a in agreement["annotators"]} == {
        "ann": (0.75, 4), "bob": (0.75, 4)}  # fmt: skip
    page = client.ann.get("/").text
    assert "Agreement between annotators" in page and "Cohen&#39;s κ = 0." in page and "1 disputed" in page

    assert client.ann.get("/api/review/disputed").status_code == 403
    disputed = client.admin.get("/api/review/disputed").json()["items"]
    assert [d["image_id"] for d in disputed] == [ids[0]]
    assert sorted(disputed[0]["tied"]) == sorted([truth[ids[0]], other])
    decided = client.admin.post(f"/api/review/{ids[0]}", json={"label": other, "reason": "disputed"})
    assert decided.status_code == 201 and decided.json()["reason"] == "disputed"
    assert client.admin.get("/api/review/disputed").json()["items"] == []
    assert client.ann.get("/api/status").json()["agreement"]["disputed"] == 0

    # bob takes back one second opinion: it is his to give again, and no longer a vote.
    assert client.bob.delete(f"/api/annotations/{given[ids[1]]}").status_code == 200
    assert client.ann.get("/api/status").json()["agreement"]["kappa_images"] == 3
    # What he holds first (the two new images leased above), then the second opinion again.
    assert [i["image_id"] for i in client.bob.post("/api/queue/next", json={"n": 3}).json()["items"]][2] == ids[1]
