"""Overlap (project/overlap.py, project/votes.py) through the project layer, on SQLite and PostgreSQL:
second opinions go to other people, never twice to one person, never to the image's labeler; votes
give the majority label training uses; ties are disputed until a reviewer decides."""

from __future__ import annotations

import contextlib
import json
import random
import threading
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update

from labelwise.errors import ConflictError
from labelwise.project import Project
from labelwise.project.overlap import SCALE, is_overlap_key
from labelwise.project.pool import load_pool
from labelwise.project.queue import annotate, label_count, lease_next, renew, skip, undo
from labelwise.project.review import review_label
from labelwise.project.settings import update_settings
from labelwise.project.users import add_user
from labelwise.project.votes import agreement_status, disputed_images, load_votes, training_labels
from labelwise.store.models import STATUS_OK, Annotation, Image, OpinionLease, User, random_order_key, utcnow

CLASSES = ["cat", "dog", "owl", "fox"]
PEOPLE = ["ann", "bob", "cid", "dee", "eve"]


def make_project(folder, db_url, n_images: int) -> Project:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    extra = {"db_url": db_url} if db_url else {}
    project = Project.create(folder / "proj", folder / "images", backbone="squeezenet", **extra)
    project.add_classes(CLASSES)
    with project.sessions.begin() as session:
        session.add_all(Image(path=f"{i}.png", content_hash=f"{i:064x}", status=STATUS_OK) for i in range(n_images))
    for name in PEOPLE:
        add_user(project, name, "annotator")
    return project


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    proj = make_project(tmp_path, url, 12)
    yield proj
    proj.close()


def people(project) -> dict[str, User]:
    with project.sessions() as session:
        return {u.name: u for u in session.scalars(select(User))}


def label_one(project, user, label="cat") -> int:
    """``user`` takes the next item of the queue and labels it; returns the image id."""
    item = lease_next(project, user, 1, None, 10.0)[0]
    annotate(project, user, item.image_id, label, None, queued=True)
    return item.image_id


def all_overlap(project, per_image=2):
    update_settings(project, {"overlap": 1.0, "labels_per_overlap_image": per_image}, "test")


def test_the_draw_follows_the_key_and_not_the_serving_order():
    keys = np.array([random_order_key(f"img/{i}.png") for i in range(20_000)])
    drawn = np.array([is_overlap_key(int(k), 0.2) for k in keys])
    assert abs(drawn.mean() - 0.2) < 0.01
    first = np.argsort(keys)[:2000]  # the first images the unranked queue serves
    assert abs(drawn[first].mean() - 0.2) < 0.03
    assert not is_overlap_key(None, 1.0) and not is_overlap_key(int(keys[0]), 0.0)
    assert is_overlap_key(SCALE - 1, 1.0)


def test_second_opinion_goes_to_another_person_and_keeps_the_first_label(project):
    all_overlap(project)
    p = people(project)
    image_id = label_one(project, p["ann"], "cat")
    # The labeler is never asked about their own image; the next person is, first, without a prediction.
    assert image_id not in [i.image_id for i in lease_next(project, p["ann"], 5, None, 10.0)]
    served = lease_next(project, p["bob"], 3, None, 10.0)
    assert served[0].image_id == image_id and served[0].strategy == "second opinion" and served[0].top == []
    assert image_id not in [i.image_id for i in served[1:]]
    # Asking again returns what bob holds (the new images first now), not a second lease.
    assert sorted(i.image_id for i in lease_next(project, p["bob"], 3, None, 10.0)) == sorted(
        i.image_id for i in served
    )
    before = label_count(project)
    opinion_id = annotate(project, p["bob"], image_id, "dog", None, queued=True)
    assert label_count(project) == before  # still one current label per image
    with project.sessions() as session:
        opinion = session.get(Annotation, opinion_id)
        assert opinion.opinion and opinion.superseded and opinion.user_id == p["bob"].id
        current = session.scalar(select(Annotation).where(Annotation.image_id == image_id,
                                                          Annotation.superseded.is_(False)))  # fmt: skip
        assert current.user_id == p["ann"].id
    # Enough opinions: nobody else is asked; bob is not asked twice.
    for name in ("cid", "dee", "bob"):
        assert image_id not in [i.image_id for i in lease_next(project, p[name], 5, None, 10.0)]
    with pytest.raises(ConflictError, match="already gave"):
        annotate(project, p["bob"], image_id, "cat", None, queued=True)


def test_three_labels_per_image_go_to_three_different_people(project):
    all_overlap(project, per_image=3)
    p = people(project)
    image_id = label_one(project, p["ann"])
    assert lease_next(project, p["bob"], 1, None, 10.0)[0].image_id == image_id
    assert lease_next(project, p["cid"], 1, None, 10.0)[0].image_id == image_id
    assert lease_next(project, p["dee"], 1, None, 10.0)[0].image_id != image_id  # two out already
    with project.sessions() as session:
        rows = session.execute(select(OpinionLease.user_id).where(OpinionLease.image_id == image_id)).all()
    assert sorted(r[0] for r in rows) == sorted([p["bob"].id, p["cid"].id])


def test_expired_second_opinion_goes_to_someone_else_and_the_late_label_is_refused(project):
    all_overlap(project)
    p = people(project)
    image_id = label_one(project, p["ann"])
    assert lease_next(project, p["bob"], 1, None, 10.0)[0].image_id == image_id
    assert renew(project, p["bob"], [image_id], 10.0) == [image_id]  # the heartbeat keeps it
    assert lease_next(project, p["cid"], 1, None, 10.0)[0].image_id != image_id
    with project.sessions.begin() as session:  # bob's lease runs out
        session.execute(update(OpinionLease).values(expires_at=utcnow() - timedelta(hours=1)))
    # What cid holds comes first (the image leased above), then the second opinion bob let run out.
    assert [i.image_id for i in lease_next(project, p["cid"], 2, None, 10.0)][1] == image_id
    with pytest.raises(ConflictError, match="from others after your lease ran out"):
        annotate(project, p["bob"], image_id, "dog", None, queued=True)
    annotate(project, p["cid"], image_id, "dog", None, queued=True)


def test_skip_and_undo_of_a_second_opinion(project):
    all_overlap(project)
    p = people(project)
    image_id = label_one(project, p["ann"])
    assert lease_next(project, p["bob"], 1, None, 10.0)[0].image_id == image_id
    skip(project, p["bob"], image_id)
    assert image_id not in [i.image_id for i in lease_next(project, p["bob"], 5, None, 10.0)]
    assert lease_next(project, p["cid"], 1, None, 10.0)[0].image_id == image_id
    opinion_id = annotate(project, p["cid"], image_id, "dog", None, queued=True)
    with project.sessions() as session:
        assert load_votes(session).image_ids.tolist() == [image_id]
    undo(project, p["cid"], opinion_id, 10.0)
    with project.sessions() as session:
        assert load_votes(session).image_ids.tolist() == []  # an undone opinion is no vote
    assert lease_next(project, p["cid"], 1, None, 10.0)[0].image_id == image_id  # back to its author


def test_no_overlap_by_default(project):
    p = people(project)
    image_id = label_one(project, p["ann"])
    assert image_id not in [i.image_id for i in lease_next(project, p["bob"], 12, None, 10.0)]
    assert agreement_status(project)["measure"] is None


def test_majority_trains_and_a_tie_waits_for_a_reviewer(project):
    p = people(project)
    all_overlap(project, per_image=3)
    three = label_one(project, p["ann"], "cat")  # ann: cat, bob and cid: dog -> dog
    for name in ("bob", "cid"):
        assert lease_next(project, p[name], 1, None, 10.0)[0].image_id == three
        annotate(project, p[name], three, "dog", None, queued=True)
    all_overlap(project, per_image=2)
    tie = label_one(project, p["dee"], "owl")  # dee: owl, eve: fox -> tie
    assert lease_next(project, p["eve"], 1, None, 10.0)[0].image_id == tie
    annotate(project, p["eve"], tie, "fox", None, queued=True)
    with project.sessions() as session:
        labels = training_labels(session, {three: 0, tie: 2, 999: 1}, len(CLASSES))
    assert labels == {three: CLASSES.index("dog"), 999: 1}  # the tie is left out
    disputed = disputed_images(project)
    assert [d["image_id"] for d in disputed] == [tie]
    assert sorted(disputed[0]["tied"]) == ["fox", "owl"] and disputed[0]["label"] == "owl"
    assert sorted((v["by"], v["label"]) for v in disputed[0]["votes"]) == [("dee", "owl"), ("eve", "fox")]
    status = agreement_status(project)
    assert status["disputed"] == 1 and status["images_with_opinions"] == 2
    # A reviewer's decision is final: the tie is resolved and trains on the decided label.
    review_label(project, tie, reviewer="boss", new_class="fox", reason="disputed")
    assert disputed_images(project) == []
    with project.sessions() as session:
        assert training_labels(session, {three: 0, tie: 3}, len(CLASSES)) == {three: 1, tie: 3}


def test_a_confirmation_resolves_a_tie_with_the_label_it_has(project):
    all_overlap(project)
    p = people(project)
    tie = label_one(project, p["ann"], "cat")
    lease_next(project, p["bob"], 1, None, 10.0)
    annotate(project, p["bob"], tie, "dog", None, queued=True)
    assert [d["image_id"] for d in disputed_images(project)] == [tie]
    review_label(project, tie, reviewer="boss")
    assert disputed_images(project) == []
    with project.sessions() as session:
        assert training_labels(session, {tie: 0}, len(CLASSES)) == {tie: 0}
    # A resolved image is not served for more opinions.
    all_overlap(project, per_image=3)
    assert tie not in [i.image_id for i in lease_next(project, p["cid"], 12, None, 10.0)]


def test_simulated_team_ranks_by_error_rate(tmp_path):
    """Five people with known error rates label through the queue (each image by three of them);
    the per-annotator agreement with the majority ranks them in that order."""
    error = {"ann": 0.02, "bob": 0.10, "cid": 0.20, "dee": 0.30, "eve": 0.45}
    project = make_project(tmp_path, None, 360)
    all_overlap(project, per_image=3)
    p = people(project)
    rng = random.Random(7)
    truth = {}
    with project.sessions() as session:
        for image_id in session.scalars(select(Image.id)):
            truth[image_id] = rng.randrange(len(CLASSES))
    while True:
        served = 0
        for name in rng.sample(PEOPLE, len(PEOPLE)):
            for item in lease_next(project, p[name], 2, None, 10.0):
                k = truth[item.image_id]
                if rng.random() < error[name]:
                    k = rng.choice([c for c in range(len(CLASSES)) if c != k])
                annotate(project, p[name], item.image_id, CLASSES[k], None, queued=True)
                served += 1
        if not served:
            break
    status = agreement_status(project)
    assert status["images_with_opinions"] == 360 and status["pending_opinions"] == 0
    assert status["measure"] == "fleiss" and status["kappa_images"] == 360
    assert [a["name"] for a in status["annotators"]] == list(error)  # most agreeing first
    with project.sessions() as session:
        votes = load_votes(session)
    assert ((votes.ratings >= 0).sum(axis=1) == 3).all()  # three different people per image
    project.close()


def test_concurrent_people_never_share_or_repeat_a_second_opinion(tmp_path, pg_url):
    project = make_project(tmp_path, pg_url, 40)
    for k in range(3):
        add_user(project, f"extra-{k}", "annotator")
    all_overlap(project, per_image=3)
    with project.sessions() as session:
        team = list(session.scalars(select(User)))
    errors: list[str] = []

    def annotator(user: User, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            try:
                # Leases of 6 ms run out at once: every call competes for the same second opinions.
                items = lease_next(project, user, 2, None, lease_minutes=rng.choice([0.0001, 10.0]))
                for item in items:
                    # A late label may be refused: the lease ran out and someone else answered.
                    with contextlib.suppress(ConflictError):
                        annotate(project, user, item.image_id, rng.choice(CLASSES), None, queued=True)
            except Exception as error:  # reported by the assertion below
                errors.append(f"{type(error).__name__}: {str(error)[:300]}")
                return

    threads = [threading.Thread(target=annotator, args=(user, k)) for k, user in enumerate(team)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    with project.sessions() as session:
        opinions = session.execute(
            select(Annotation.image_id, Annotation.user_id).where(Annotation.opinion.is_(True))
        ).all()
        labelers = dict(session.execute(
            select(Annotation.image_id, Annotation.user_id).where(Annotation.superseded.is_(False))
        ).all())  # fmt: skip
        per_image = session.execute(
            select(OpinionLease.image_id, func.count()).where(OpinionLease.done.is_(True))
            .group_by(OpinionLease.image_id)
        ).all()  # fmt: skip
    assert opinions, "the run gave no second opinion at all"
    assert len(set(opinions)) == len(opinions)  # nobody twice on one image
    assert all(labelers[i] != u for i, u in opinions)  # never on their own image
    assert max(n for _, n in per_image) <= 2  # never more than wanted
    project.close()


def test_cli_shows_agreement_and_lists_and_resolves_disputes(tmp_path):
    from typer.testing import CliRunner

    from labelwise.cli import app

    project = make_project(tmp_path, None, 12)
    all_overlap(project)
    p = people(project)
    agreed = label_one(project, p["ann"], "cat")
    tie = label_one(project, p["ann"], "cat")
    for image_id, label in ((agreed, "cat"), (tie, "dog")):
        assert image_id in [i.image_id for i in lease_next(project, p["bob"], 2, None, 10.0)]
        annotate(project, p["bob"], image_id, label, None, queued=True)
    with project.sessions() as session:
        tie_path = session.get(Image, tie).path
    folder = str(project.folder)
    project.close()
    runner = CliRunner()
    result = runner.invoke(app, ["status", folder, "--json"])
    assert result.exit_code == 0, result.output
    agreement = json.loads(result.output)["agreement"]
    assert agreement["measure"] == "cohen" and agreement["kappa_images"] == 2 and agreement["disputed"] == 1
    text = " ".join(runner.invoke(app, ["status", folder]).output.split())  # the console wraps lines
    assert "Cohen's kappa 0.000 on 2 images; 1 disputed" in text
    assert "ann: 50.0% with the majority of the others (2 images)" in text
    listed = runner.invoke(app, ["review", folder, "--disputed", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    ties = json.loads(listed.output)["disputed"]
    assert [(d["path"], sorted(d["tied"])) for d in ties] == [(tie_path, ["cat", "dog"])]
    assert tie_path in runner.invoke(app, ["review", folder, "--disputed"]).output
    assert runner.invoke(app, ["review", folder, "--change", f"{tie_path}=dog", "--by", "boss"]).exit_code == 0
    after = runner.invoke(app, ["review", folder, "--disputed", "--format", "json"])
    assert json.loads(after.output) == {"disputed": []}
    assert json.loads(runner.invoke(app, ["status", folder, "--json"]).output)["agreement"]["disputed"] == 0


def test_the_training_pool_holds_the_majority_and_leaves_ties_out(tmp_path):
    from tests.project.test_pool_cache import make_project as make_pool_project

    made = make_pool_project(tmp_path, "")
    project = next(made)
    for name in ("ann", "bob", "cid"):
        add_user(project, name, "annotator")
    p = people(project)
    update_settings(project, {"overlap": 1.0, "labels_per_overlap_image": 3}, "test")
    outvoted = 1  # ann: a; bob and cid: b
    annotate(project, p["ann"], outvoted, "a", None)
    for name in ("bob", "cid"):
        assert lease_next(project, p[name], 1, None, 10.0)[0].image_id == outvoted
        annotate(project, p[name], outvoted, "b", None, queued=True)
    update_settings(project, {"labels_per_overlap_image": 2}, "test")
    annotate(project, p["ann"], 2, "a", None)  # ann: a, bob: b -> tied
    assert lease_next(project, p["bob"], 1, None, 10.0)[0].image_id == 2
    annotate(project, p["bob"], 2, "b", None, queued=True)
    annotate(project, p["ann"], 3, "a", None)  # no second opinion yet: its label as given
    pool = load_pool(project, votes=True)
    labels = dict(zip(pool.image_ids.tolist(), pool.labels.tolist(), strict=True))
    assert (labels[1], labels[2], labels[3]) == (1, -1, 0)
    # Review, similar search and exports speak of each image's current label, disputed or not.
    pool = load_pool(project)
    labels = dict(zip(pool.image_ids.tolist(), pool.labels.tolist(), strict=True))
    assert (labels[1], labels[2], labels[3]) == (0, 0, 0)
    with pytest.raises(StopIteration):
        next(made)
