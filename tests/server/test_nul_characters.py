"""A class name with a NUL character is a 422 naming the field on both databases: PostgreSQL text
cannot hold NUL, and such a name used to reach its query and answer 500 (found by the fuzzing gate)."""

from __future__ import annotations

import pytest

from tests.utils.server import served_project


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, tmp_path, fashion_folder):
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    with served_project(tmp_path / "proj", fashion_folder, db_url) as client:
        yield client


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/api/annotations", {"label": "Ba\u0000g"}, "label"),
        ("/api/annotations", {"label": "Bag", "preselected": "\u0000"}, "preselected"),
        ("/api/annotations/batch", {"label": "\u0000Bag"}, "label"),
    ],
)
def test_a_nul_in_a_class_name_is_refused_naming_the_field(client, route, body, field):
    image_id = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]["image_id"]
    ids = {"image_ids": [image_id]} if route.endswith("batch") else {"image_id": image_id}
    r = client.ann.post(route, json={**ids, **body})
    assert r.status_code == 422, r.text
    assert field in r.text
    # Nothing was labeled: the image is still free for a proper label.
    ok = client.ann.post("/api/annotations", json={"image_id": image_id, "label": "Bag"})
    assert ok.status_code == 201, ok.text
