"""The label route of a multi-label project (SQLite and PostgreSQL): a list of class names, the other
shape and bad classes refused with 4xx naming the field; leases, skip, undo and late labels as for
single-label; the status says the kind and, honestly, that the model is not measured."""

from __future__ import annotations

import pytest

from labelwise.project import Project
from labelwise.project.multilabel_labels import current_label_sets
from labelwise.project.settings import get_settings
from labelwise.project.training import train_and_rank
from tests.utils.server import served_project


@pytest.fixture(params=["sqlite", "postgresql"])
def ml(request, tmp_path, fashion_folder):
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    with served_project(tmp_path / "proj", fashion_folder, db_url, multi_label=True) as client:
        yield client


def sets(client) -> dict[int, list[int]]:
    with client.app.state.project.sessions() as session:
        return current_label_sets(session)


def next_ids(who, n=2) -> list[int]:
    r = who.post("/api/queue/next", json={"n": n})
    assert r.status_code == 200, r.text
    assert all(item["preselected"] is None for item in r.json()["items"])  # no one-class pre-selection
    return [item["image_id"] for item in r.json()["items"]]


def test_a_list_labels_an_image_and_an_empty_list_is_none(ml):
    first, second = next_ids(ml.ann)
    r = ml.ann.post("/api/annotations", json={"image_id": first, "label": ["Sandal", "Bag"], "queued": True})
    assert r.status_code == 201, r.text
    assert r.json()["label"] == ["Sandal", "Bag"]
    assert ml.ann.post("/api/annotations", json={"image_id": second, "label": [], "queued": True}).status_code == 201
    assert sets(ml) == {first: [5, 8], second: []}
    mine = ml.ann.get("/api/annotations/mine").json()["items"]
    assert [(i["label"], i["labels"]) for i in mine] == [("Sandal; Bag", ["Sandal", "Bag"]), ("none", [])]
    # Undo: the image is unlabeled again and back in its author's queue.
    assert ml.ann.delete(f"/api/annotations/{mine[-1]['id']}").status_code == 200
    assert sets(ml) == {first: [5, 8]} and second in next_ids(ml.ann, 5)
    status = ml.admin.get("/api/status").json()
    assert status["kind"] == "multi-label" and status["labeled"] == 1


@pytest.mark.parametrize(
    ("label", "why"),
    [("Bag", "multi-label project"), (["Bag", "Bag"], "given twice"), (["Bag", "Yak"], "unknown class")],
)
def test_bad_labels_are_refused_naming_the_field(ml, label, why):
    image_id = next_ids(ml.ann, 1)[0]
    r = ml.ann.post("/api/annotations", json={"image_id": image_id, "label": label, "queued": True})
    assert r.status_code == 422 and r.json()["detail"].startswith("label: ") and why in r.json()["detail"]
    assert sets(ml) == {}


def test_leases_late_labels_and_skip_work_as_for_single_label(ml):
    image_id = next_ids(ml.ann, 1)[0]
    r = ml.bob.post("/api/annotations", json={"image_id": image_id, "label": ["Bag"], "queued": True})
    assert r.status_code == 409 and "leased to ann" in r.json()["detail"]
    other = next_ids(ml.bob, 1)[0]
    assert other != image_id
    assert ml.bob.post("/api/skip", json={"image_id": other}).status_code in (200, 204)
    assert other not in next_ids(ml.bob, 3)


def test_settings_and_the_status_of_a_trained_multi_label_model(ml):
    r = ml.admin.put("/api/settings", json={"strategy": "entropy"})
    assert r.status_code == 422 and "multi-label" in r.json()["detail"]
    assert ml.admin.put("/api/settings", json={"overlap": 0.3}).status_code == 422
    ids = next_ids(ml.ann, 6)
    for k, image_id in enumerate(ids):
        label = [["Bag"], ["Bag", "Coat"], []][k % 3]
        assert ml.ann.post("/api/annotations", json={"image_id": image_id, "label": label}).status_code == 201
    project = Project(ml.app.state.project.folder)
    ranking, _ = train_and_rank(project, get_settings(project))
    project.close()
    ml.app.state.retrainer.ranking = ranking
    status = ml.admin.get("/api/status").json()
    model = status["model"]
    assert model["n_labels"] == 6 and model["accuracy"] is None and model["cv_accuracy_optimistic"] is None
    assert "multi-label model has no audit sample" in model["accuracy_reason"]
    served = next_ids(ml.bob, 3)
    assert served == [e.image_id for e in ranking.entries[:3]]


def test_a_list_on_a_single_label_project_is_refused(client):
    image_id = next_ids(client.ann, 1)[0]
    r = client.ann.post("/api/annotations", json={"image_id": image_id, "label": ["Bag"], "queued": True})
    assert r.status_code == 422 and r.json()["detail"].startswith("label: this is a single-label project")
    assert client.ann.post("/api/annotations", json={"image_id": image_id, "label": "Bag"}).status_code == 201


def test_the_pages_render_and_the_grid_shows_the_sets(ml):
    first, second = next_ids(ml.ann)
    ml.ann.post("/api/annotations", json={"image_id": first, "label": ["Coat", "Bag"]})
    ml.ann.post("/api/annotations", json={"image_id": second, "label": []})
    for page in ("/", "/annotate", "/images", "/export"):
        assert ml.admin.get(page).status_code == 200, page
    assert '"multi_label": true' in ml.ann.get("/annotate").text
    items = ml.admin.get("/api/images", params={"labeled": True}).json()["items"]
    assert {i["image_id"]: i["label"] for i in items} == {first: "Coat; Bag", second: "none"}


def test_the_images_page_corrects_a_set_and_its_class_filter_and_counts_read_sets(ml):
    first, second = next_ids(ml.ann)
    for image_id in (first, second):
        body = {"image_id": image_id, "label": ["Bag"], "queued": True}
        assert ml.ann.post("/api/annotations", json=body).status_code == 201
    # The images page's dialog: a checkbox per class, posting the corrected set (not queued).
    page = ml.ann.get("/images").text
    assert 'name="relabel-set" value="Bag"' in page and 'id="relabel-class"' not in page
    r = ml.ann.post("/api/annotations", json={"image_id": second, "label": ["Bag", "Sandal"]})
    assert r.status_code == 201, r.text
    assert r.json()["label"] == ["Sandal", "Bag"]  # the set as stored, in class order
    assert sets(ml) == {first: [8], second: [5, 8]}
    bags = ml.ann.get("/api/images", params={"label": "Bag"}).json()
    assert bags["total"] == 2 and sorted(i["image_id"] for i in bags["items"]) == sorted([first, second])
    sandals = ml.ann.get("/api/images", params={"label": "Sandal", "labeled": "true"}).json()
    assert sandals["total"] == 1
    assert [(i["image_id"], i["label"]) for i in sandals["items"]] == [(second, "Sandal; Bag")]
    counts = {c["name"]: c["labels"] for c in ml.admin.get("/api/classes").json()["classes"]}
    assert counts["Bag"] == 2 and counts["Sandal"] == 1 and sum(counts.values()) == 3


def test_a_similar_batch_and_a_retired_class_in_a_set_are_refused(ml):
    first, second = next_ids(ml.ann)
    r = ml.ann.post("/api/annotations/batch", json={"image_ids": [first, second], "label": "Bag"})
    assert r.status_code == 422 and "label similar images: not available on a multi-label project" in r.text
    assert ml.admin.post("/api/classes/Coat/retire").status_code == 200
    r = ml.ann.post("/api/annotations", json={"image_id": first, "label": ["Bag", "Coat"], "queued": True})
    assert r.status_code == 422 and "class is retired: 'Coat'" in r.text
    assert sets(ml) == {}  # nothing labeled by either
