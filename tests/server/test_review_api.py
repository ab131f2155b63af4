"""Review over HTTP (issue 13), on SQLite and PostgreSQL: admins list the labels most likely wrong,
confirm or change them, and read who changed what; annotators cannot; bad requests are refused."""

from __future__ import annotations

from sqlalchemy import select

from labelwise.store.models import Annotation


def label_some(client, n: int = 12) -> list[dict]:
    """``n`` queued images labeled with their folder's class (the folder is the true class)."""
    items = client.ann.post("/api/queue/next", json={"n": n}).json()["items"]
    for item in items:
        label = item["path"].split("/")[0]
        assert (
            client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": label}).status_code == 201
        )
    return items


def test_annotators_are_refused_the_review(client):
    assert client.ann.get("/api/review/suspects").status_code == 403
    assert client.ann.post("/api/review/1", json={}).status_code == 403
    assert client.ann.get("/api/review/history").status_code == 403
    page = client.ann.get("/review")
    assert page.status_code == 403 and "Reviewing labels is for admins" in page.text
    assert client.anon.get("/api/review/suspects").status_code == 401
    assert 'href="/review"' not in client.ann.get("/").text and 'href="/review"' in client.admin.get("/").text


def test_admins_list_confirm_and_change_labels_with_history(client):
    too_few = client.admin.get("/api/review/suspects")
    assert too_few.status_code == 422 and "two classes with two labels" in too_few.json()["detail"]
    items = label_some(client, 30)
    listed = client.admin.get("/api/review/suspects?n=5")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert len(body["items"]) == 5 and body["n_reviewed"] == 0
    assert body["n_checked"] == len(items) - sum(n == 1 for n in _class_counts(items).values())
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    p = [i["given_p"] for i in body["items"]]
    assert p == sorted(p)  # by ascending probability of the label given
    assert "Review" in client.admin.get("/review").text

    first, second = body["items"][0], body["items"][1]
    # Changed to the commonest other class: a class with a single label could not be cross-validated.
    counts = _class_counts(items)
    other = max((c for c in counts if c != first["label"]), key=counts.__getitem__)
    changed = client.admin.post(f"/api/review/{first['image_id']}", json={"label": other, "given_p": first["given_p"]})
    assert changed.status_code == 201, changed.text
    assert changed.json() == changed.json() | {"action": "change", "from": first["label"], "to": other, "by": "ada",
                                               "labeled_by": "ann", "given_p": first["given_p"]}  # fmt: skip
    confirmed = client.admin.post(f"/api/review/{second['image_id']}", json={})
    assert confirmed.status_code == 201 and confirmed.json()["action"] == "confirm"
    history = client.admin.get("/api/review/history").json()["reviews"]
    assert [(h["image_id"], h["action"]) for h in history] == [(second["image_id"], "confirm"),
                                                               (first["image_id"], "change")]  # fmt: skip
    again = client.admin.get("/api/review/suspects?n=50").json()
    assert again["n_reviewed"] == 2
    assert {first["image_id"], second["image_id"]}.isdisjoint(i["image_id"] for i in again["items"])
    with client.app.state.project.sessions() as session:
        rows = session.execute(
            select(Annotation.annotator, Annotation.source, Annotation.superseded)
            .where(Annotation.image_id == first["image_id"])
            .order_by(Annotation.id)
        ).all()
    assert [tuple(r) for r in rows] == [("ann", "server", True), ("ada", "review", False)]

    # Refusals name the problem; nothing is recorded for them.
    unknown = client.admin.post(f"/api/review/{first['image_id']}", json={"label": "Kitten"})
    assert unknown.status_code == 422 and "Kitten" in unknown.json()["detail"]
    unlabeled = next(i for i in client.ann.post("/api/queue/next", json={"n": 1}).json()["items"])
    refused = client.admin.post(f"/api/review/{unlabeled['image_id']}", json={})
    assert refused.status_code == 422 and "has no label to review" in refused.json()["detail"]
    assert client.admin.post("/api/review/999999", json={}).status_code == 404
    assert client.admin.post(f"/api/review/{first['image_id']}", json={"colour": "red"}).status_code == 422
    assert client.admin.get("/api/review/suspects?n=0").status_code == 422
    assert len(client.admin.get("/api/review/history").json()["reviews"]) == 2


def _class_counts(items: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item["path"].split("/")[0]] = counts.get(item["path"].split("/")[0], 0) + 1
    return counts
