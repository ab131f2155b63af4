"""Exports of a single-label project with overlap: an image's majority label, a tie flagged disputed."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from labelwise.project import Project
from labelwise.project.export import export_text
from labelwise.project.queue import annotate, lease_next
from labelwise.project.review import review_label
from labelwise.project.settings import update_settings
from labelwise.project.users import add_user
from labelwise.store.models import STATUS_OK, Image, User


def test_exports_carry_the_majority_and_flag_a_tie(tmp_path):
    (tmp_path / "images").mkdir()
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet")
    project.add_classes(["cat", "dog"])
    with project.sessions.begin() as session:
        session.add_all(Image(path=f"{i}.png", content_hash=f"{i:064x}", status=STATUS_OK) for i in range(2))
    for name in ("ann", "bob", "cid"):
        add_user(project, name, "annotator")
    with project.sessions() as session:
        p = {u.name: u for u in session.scalars(select(User))}
    update_settings(project, {"overlap": 1.0, "labels_per_overlap_image": 3}, "test")
    first, second = (i.image_id for i in lease_next(project, p["ann"], 2, None, 10.0))
    annotate(project, p["ann"], first, "cat", None, queued=True)  # outvoted by bob and cid
    annotate(project, p["ann"], second, "cat", None, queued=True)  # bob says dog: a tie, cid gives none
    for who, votes in (("bob", {first: "dog", second: "dog"}), ("cid", {first: "dog"})):
        for item in lease_next(project, p[who], 2, None, 10.0):
            if item.image_id in votes:
                annotate(project, p[who], item.image_id, votes[item.image_id], None, queued=True)
    paths = {first: f"{first - 1}.png", second: f"{second - 1}.png"}
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(export_text(project, "csv")))}
    assert (rows[paths[first]]["label"], rows[paths[first]]["flag"]) == ("dog", "")
    assert (rows[paths[second]]["label"], rows[paths[second]]["flag"]) == ("", "disputed")
    as_json = {r["path"]: (r["label"], r["flag"]) for r in json.loads(export_text(project, "json"))}
    assert as_json == {paths[first]: ("dog", ""), paths[second]: ("", "disputed")}
    coco = json.loads(export_text(project, "coco"))
    assert [a["image_id"] for a in coco["annotations"]] == [first]
    assert [i.get("disputed", False) for i in sorted(coco["images"], key=lambda i: i["id"])] == [False, True]
    # A reviewer settles the tie: the export follows their word.
    review_label(project, second, reviewer="lead", new_class="cat")
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(export_text(project, "csv")))}
    assert (rows[paths[second]]["label"], rows[paths[second]]["flag"]) == ("cat", "")
    project.close()
