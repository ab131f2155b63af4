"""Similar-image batches through the API and the CLI: the nearest unlabeled images of one image,
pre-ticked with its class, labeled at once with ``source=batch``."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.project.pool import load_pool
from labelwise.store.models import Annotation


def true_class(item: dict) -> str:
    return item["path"].split("/")[0]  # the fixture's folders are the classes


def test_similar_lists_the_nearest_unlabeled_images_and_batch_labels_them(client):
    first, *others = client.ann.post("/api/queue/next", json={"n": 5}).json()["items"]
    for item in [first, *others]:
        assert (
            client.ann.post(
                "/api/annotations", json={"image_id": item["image_id"], "label": true_class(item)}
            ).status_code
            == 201
        )
    r = client.ann.get(f"/api/images/{first['image_id']}/similar")
    assert r.status_code == 200, r.text
    batch = r.json()
    assert batch["label"] == true_class(first) and len(batch["items"]) == 48
    # The same search done here by brute force on the pool's projected embeddings.
    pool = load_pool(client.app.state.project)
    unit = pool.X / np.linalg.norm(pool.X, axis=1, keepdims=True)
    row = int(np.flatnonzero(pool.image_ids == first["image_id"])[0])
    sims = unit @ unit[row]
    sims[pool.labels >= 0] = -np.inf  # labeled images (the five, the query among them) are never offered
    expected = pool.image_ids[np.argsort(-sims, kind="stable")[:48]].tolist()
    assert [i["image_id"] for i in batch["items"]] == expected
    assert [i["similarity"] for i in batch["items"]] == sorted((i["similarity"] for i in batch["items"]), reverse=True)
    assert client.ann.get(f"/api/images/{first['image_id']}/similar?n=49").status_code == 422
    assert client.ann.get("/api/images/999999/similar").status_code == 404

    held = client.bob.post("/api/queue/next", json={"n": 20}).json()["items"]
    ids = [i["image_id"] for i in batch["items"][:10]]
    bobs = next((i["image_id"] for i in held if i["image_id"] not in ids), held[0]["image_id"])
    body = {"image_ids": [*ids, bobs, ids[0]], "label": batch["label"]}
    r = client.ann.post("/api/annotations/batch", json=body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["labeled"] == [i for i in ids if i != bobs]
    assert [x["image_id"] for x in result["refused"]] == [bobs] and "leased to bob" in result["refused"][0]["reason"]
    with client.app.state.project.sessions() as session:
        sources = dict(session.execute(select(Annotation.image_id, Annotation.source)).all())
    assert [sources[i] for i in result["labeled"]] == ["batch"] * len(result["labeled"])
    bad = client.ann.post("/api/annotations/batch", json={"image_ids": ids, "label": "Nope"})
    assert bad.status_code == 422 and "label" in bad.json()["detail"]
    # Labeled now: the next batch offers others.
    again = client.ann.get(f"/api/images/{first['image_id']}/similar").json()["items"]
    assert not set(result["labeled"]) & {i["image_id"] for i in again}

    out = CliRunner().invoke(app, ["similar", str(client.app.state.project.folder), first["path"], "-n", "5", "--json"])
    assert out.exit_code == 0, out.output
    assert [i["path"] for i in json.loads(out.output)["items"]] == [i["path"] for i in again[:5]]


def test_a_pool_searched_through_the_index_gives_the_exact_search_s_batch(client, monkeypatch):
    """From INDEX_LIMIT images on the search goes through a faiss index kept between requests; here
    the limit is lowered to this small pool, and both give the same batch, before and after labels."""
    from labelwise.project import similar

    project = client.app.state.project
    items = client.ann.post("/api/queue/next", json={"n": 3}).json()["items"]
    for item in items:
        client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": true_class(item)})
    built, original = [], similar.CosineIndex
    monkeypatch.setattr(similar, "CosineIndex", lambda X: built.append(X) or original(X))
    for item in items:
        exact = similar.similar_unlabeled(project, item["image_id"])
        indexed = similar.similar_unlabeled(project, item["image_id"], index_limit=1)
        assert [i.image_id for i in indexed.items] == [i.image_id for i in exact.items]
        assert [i.similarity for i in indexed.items] == [i.similarity for i in exact.items]
    assert len(built) == 1  # one index for the three searches: the pool did not change
