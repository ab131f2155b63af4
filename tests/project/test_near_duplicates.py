"""Near-duplicate groups: shifted copies of one picture are grouped at ingest when the project sets a
threshold, never served together in one batch, and listed by ``status --json``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.project import Project, near_duplicates
from labelwise.project.ingest import ingest_folder
from labelwise.project.near_duplicates import group_members, group_of, near_duplicate_counts, set_threshold
from labelwise.project.queue import lease_next
from labelwise.project.users import add_user
from labelwise.server.app import create_app
from labelwise.store.models import User
from tests.utils.images import photo


def write_pool(root):
    """Three pictures with a copy shifted by 2 px each, and two pictures alone."""
    root.mkdir(parents=True)
    for seed in (1, 2, 3):
        picture = np.asarray(photo(seed * 11))
        PILImage.fromarray(picture).save(root / f"p{seed}.png")
        PILImage.fromarray(np.roll(picture, 2, axis=1)).save(root / f"p{seed}-shifted.png")
    for seed in (4, 5):
        photo(seed * 11).save(root / f"alone{seed}.png")


def test_shifted_copies_are_grouped_and_kept_out_of_one_batch(tmp_path):
    write_pool(tmp_path / "images")
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet")
    set_threshold(project, 0.96)  # measured: pairs 0.979-0.985, other pictures at most 0.926
    ingest_folder(project)
    status = json.loads(CliRunner().invoke(app, ["status", str(project.folder), "--json"]).output)
    assert status["near_duplicate_groups"] == [[f"p{s}-shifted.png", f"p{s}.png"] for s in (1, 2, 3)]
    for name in ("ann", "bob"):
        add_user(project, name, "annotator")
    with project.sessions() as session:
        ann, bob = (session.scalar(select(User).where(User.name == n)) for n in ("ann", "bob"))
    groups = group_of(project)
    first = [i.image_id for i in lease_next(project, ann, 8, None, lease_minutes=10)]
    assert len(first) == 5  # the two alone, and one of each pair
    assert len({groups[i] for i in first if i in groups}) == 3
    second = [i.image_id for i in lease_next(project, bob, 8, None, lease_minutes=10)]
    assert sorted(first + second) == sorted(range(1, 9))  # the other halves of the pairs come next
    set_threshold(project, None)  # off: nothing grouped
    ingest_folder(project)
    assert group_of(project) == {}
    project.close()


def test_the_api_offers_the_group_and_labels_it_at_once(tmp_path):
    write_pool(tmp_path / "images")
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet")
    project.add_classes(["a", "b"])
    set_threshold(project, 0.96)
    ingest_folder(project)
    token = add_user(project, "ann", "annotator")
    project.close()
    app = create_app(tmp_path / "proj", start_worker=False)
    try:
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        items = client.post("/api/queue/next", json={"n": 8}).json()["items"]
        paired = {i["path"]: i for i in items if i["near_duplicates"]}
        assert len(paired) == 3 and all(i["near_duplicates"] == 1 for i in paired.values())
        assert all(i["near_duplicates"] == 0 for i in items if i["path"].startswith("alone"))
        one = next(iter(paired.values()))
        group = client.get(f"/api/images/{one['image_id']}/group").json()
        stem = one["path"].split("-")[0].removesuffix(".png")
        partner = f"{stem}.png" if "shifted" in one["path"] else f"{stem}-shifted.png"
        assert [i["path"] for i in group["items"]] == [partner]
        # The similarity the group was made on (backbone vectors), at least the threshold.
        assert 0.96 <= group["items"][0]["similarity"] <= 1.0 + 1e-6
        # The grid shows the group: both pictures, each saying it has one near-duplicate.
        shown = client.get(f"/api/images?group={one['image_id']}").json()
        assert sorted(i["path"] for i in shown["items"]) == sorted([one["path"], partner]) and shown["total"] == 2
        assert [i["near_duplicates"] for i in shown["items"]] == [1, 1]
        alone = next(i for i in items if i["path"].startswith("alone"))
        assert [i["path"] for i in client.get(f"/api/images?group={alone['image_id']}").json()["items"]] == [
            alone["path"]
        ]
        everything = client.get("/api/images").json()["items"]
        assert sorted(i["near_duplicates"] for i in everything) == [0, 0, 1, 1, 1, 1, 1, 1]
        ids = [one["image_id"], group["items"][0]["image_id"]]
        r = client.post("/api/annotations/batch", json={"image_ids": ids, "label": "a"})
        assert r.status_code == 200 and r.json()["labeled"] == ids, r.text
        assert client.get(f"/api/images/{one['image_id']}/group").json()["items"] == []  # labeled now
        assert 'id="label-group"' in client.get("/annotate").text
    finally:
        app.state.retrainer.stop()
        app.state.project.close()
        app.state.retrainer.project.close()


def test_group_sizes_and_members_are_read_with_the_groups_once_per_file(tmp_path, monkeypatch):
    """The queue asks for the sizes of a batch's groups on every request: they come from the members
    gathered when the file was read, not from a count over every grouped image each time."""
    project = Project.create(tmp_path / "proj", tmp_path, backbone="squeezenet")
    path = project.folder / "models" / near_duplicates.FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, image_ids=np.arange(1, 8), groups=np.array([0, -1, 0, 1, 0, 1, -1]), threshold=0.9)
    assert near_duplicate_counts(project, [1, 2, 4, 7, 99]) == {1: 2, 2: 0, 4: 1, 7: 0, 99: 0}
    assert group_members(project, 5) == [1, 3, 5] and group_members(project, 2) == [2]
    read = near_duplicates._groups(project)
    assert read.members == {0: (1, 3, 5), 1: (4, 6)}
    monkeypatch.setattr(near_duplicates.np, "load", lambda *a, **k: pytest.fail("read again"))
    assert near_duplicates._groups(project) is read  # the same file: not read again
    project.close()
