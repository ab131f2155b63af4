"""project/queue.py called directly on a real SQLite project (no server): fast enough to run once
per mutant in ``make mutation``. The HTTP behaviour is in tests/server/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import add_annotation
from labelwise.project.queue import (
    CHUNK,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    annotate,
    label_count,
    lease_next,
    recent_labels,
    renew,
    skip,
    undo,
)
from labelwise.project.training import QueueEntry, Ranking
from labelwise.project.users import add_user
from labelwise.store.models import Annotation, Image, LabelClass, Lease, Skip, User, random_order_key, utcnow
from tests.utils.images import write_class_folders

FOLDERS = ("apple", "banana", "cherry")
MINUTES = 10.0


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("queue")
    images = write_class_folders(root / "images", FOLDERS, per_folder=4)
    proj = Project.create(root / "proj", images, backbone="squeezenet")
    proj.add_classes(list(FOLDERS))
    ingest_folder(proj)
    for name, role in (("ann", "annotator"), ("bob", "annotator"), ("boss", "admin")):
        add_user(proj, name, role)
    yield proj
    proj.close()


@pytest.fixture(autouse=True)
def fresh(project):
    """Every test starts with no label, lease or skip; the images and people stay."""
    with project.sessions.begin() as session:
        for table in (Annotation, Lease, Skip):
            session.execute(delete(table))
    yield


def person(project, name) -> User:
    with project.sessions() as session:
        return session.scalar(select(User).where(User.name == name))


def image_ids(project) -> list[int]:
    with project.sessions() as session:
        return list(session.scalars(select(Image.id).order_by(Image.id)))


def random_order(project) -> list[int]:
    """The fallback order: the images' random keys (then id)."""
    with project.sessions() as session:
        rows = session.execute(select(Image.id, Image.rand_key)).all()
    return [i for i, _ in sorted(rows, key=lambda r: (r[1], r[0]))]


def leases(project) -> dict[int, Lease]:
    with project.sessions() as session:
        return {lease.image_id: lease for lease in session.scalars(select(Lease))}


def ranking_of(ids, version=3, strategy="margin", **entry) -> Ranking:
    return Ranking(version, strategy, [QueueEntry(i, score=1.0 - k / 100, **entry) for k, i in enumerate(ids)])


def expire(project, image_ids_: list[int]) -> None:
    with project.sessions.begin() as session:
        session.execute(
            update(Lease).where(Lease.image_id.in_(image_ids_)).values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_the_ranking_is_served_in_its_order_with_what_chose_each_image(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    order = [ids[5], ids[2], ids[9], ids[0]]
    ranking = Ranking(7, "margin", [
        QueueEntry(order[0], 0.9, top=[("apple", 0.6), ("banana", 0.3)]),
        QueueEntry(order[1], 0.8, strategy="explore"),
        QueueEntry(order[2], 0.7),
        QueueEntry(order[3], 0.6),
    ])  # fmt: skip
    before = utcnow()
    got = lease_next(project, ann, 3, ranking, MINUTES)
    assert [g.image_id for g in got] == order[:3]
    assert [(g.model_version, g.strategy, g.score) for g in got] == [(7, "margin", 0.9), (7, "explore", 0.8),
                                                                      (7, "margin", 0.7)]  # fmt: skip
    assert got[0].top == [("apple", 0.6), ("banana", 0.3)] and got[1].top == []
    with project.sessions() as session:
        paths = dict(session.execute(select(Image.id, Image.path)).all())
    assert [g.path for g in got] == [paths[i] for i in order[:3]]
    for g in got:  # aware, MINUTES from now
        assert g.expires_at.tzinfo is not None
        assert timedelta(minutes=MINUTES) <= g.expires_at - before <= timedelta(minutes=MINUTES, seconds=30)
    held = leases(project)
    assert set(held) == set(order[:3]) and all(h.user_id == ann.id and not h.done for h in held.values())


@pytest.mark.parametrize("n", [-1, 101])
def test_n_out_of_range_is_refused(project, n):
    with pytest.raises(LabelwiseError, match="n: must be between 0 and 100"):
        lease_next(project, person(project, "ann"), n, None, MINUTES)


def test_n_at_the_bounds_is_accepted(project):
    ann = person(project, "ann")
    assert lease_next(project, ann, 0, None, MINUTES) == []
    assert len(lease_next(project, ann, 100, None, MINUTES)) == len(image_ids(project))  # every image, no more


def test_without_a_ranking_images_come_in_the_projects_random_order(project):
    got = lease_next(project, person(project, "ann"), 5, None, MINUTES)
    assert [g.image_id for g in got] == random_order(project)[:5]
    assert all((g.model_version, g.strategy, g.score, g.top) == (None, "fallback: unranked", None, []) for g in got)
    with project.sessions() as session:
        paths = dict(session.execute(select(Image.id, Image.path)).all())
    assert [g.image_id for g in got] == sorted(paths, key=lambda i: (random_order_key(paths[i]), i))[:5]


def test_a_used_up_ranking_is_followed_by_the_random_order_without_repeats(project):
    ids = image_ids(project)
    ranked = [random_order(project)[3], ids[0]]
    got = lease_next(project, person(project, "ann"), 6, ranking_of(ranked), MINUTES)
    rest = [i for i in random_order(project) if i not in ranked]
    assert [g.image_id for g in got] == ranked + rest[:4]
    assert [g.strategy for g in got] == ["margin"] * 2 + ["fallback: unranked"] * 4
    assert [g.model_version for g in got] == [3, 3, None, None, None, None]
    assert len({g.image_id for g in got}) == 6


def test_a_ranking_longer_than_one_chunk_is_read_chunk_after_chunk(project):
    ids = image_ids(project)
    # Entries the database does not hold (deleted images) fill the first chunk and a half.
    gone = list(range(10_000, 10_000 + CHUNK + CHUNK // 2))
    wanted = [ids[7], ids[1], ids[4]]
    got = lease_next(project, person(project, "ann"), 3, ranking_of(gone + wanted), MINUTES)
    assert [g.image_id for g in got] == wanted
    assert all(g.strategy == "margin" for g in got)


def test_two_people_never_hold_the_same_image(project):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    a = [g.image_id for g in lease_next(project, person(project, "ann"), 4, ranking, MINUTES)]
    b = [g.image_id for g in lease_next(project, person(project, "bob"), 4, ranking, MINUTES)]
    assert a == ids[:4] and b == ids[4:8]


def test_asking_again_returns_what_you_hold_first_in_ranking_order_and_renews_it(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    lease_next(project, ann, 3, ranking_of(ids), MINUTES)
    first = leases(project)
    # A new ranking puts what ann holds in another order, and other images first.
    new = ranking_of([ids[8], ids[2], ids[9], ids[0], ids[1]], version=4)
    got = lease_next(project, ann, 4, new, 2 * MINUTES)
    assert [g.image_id for g in got] == [ids[2], ids[0], ids[1], ids[8]]
    again = leases(project)
    for i in ids[:3]:
        assert again[i].expires_at > first[i].expires_at + timedelta(minutes=MINUTES / 2)
    # held leases keep what chose them when they were leased
    assert [g.model_version for g in got] == [3, 3, 3, 4]


def test_held_images_the_ranking_does_not_know_come_after_the_ranked_ones_by_id(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    lease_next(project, ann, 3, ranking_of([ids[6], ids[3], ids[5]]), MINUTES)
    got = lease_next(project, ann, 3, ranking_of([ids[5]]), MINUTES)
    assert [g.image_id for g in got] == [ids[5], ids[3], ids[6]]


def test_held_leases_beyond_n_are_not_all_returned(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    lease_next(project, ann, 5, ranking_of(ids), MINUTES)
    assert len(lease_next(project, ann, 2, ranking_of(ids), MINUTES)) == 2


def test_an_expired_lease_goes_to_the_next_person(project):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    lease_next(project, person(project, "ann"), 2, ranking, MINUTES)
    expire(project, ids[:1])
    bob = person(project, "bob")
    got = lease_next(project, bob, 2, ranking, MINUTES)
    assert [g.image_id for g in got] == [ids[0], ids[2]]
    assert leases(project)[ids[0]].user_id == bob.id


def test_an_expired_lease_is_not_returned_to_its_holder_as_held(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    lease_next(project, ann, 2, ranking_of(ids), MINUTES)
    expire(project, ids[:2])
    # The ranking now starts elsewhere: expired leases are not "held", they are free again.
    got = lease_next(project, ann, 2, ranking_of(ids[5:] + ids[:5]), MINUTES)
    assert [g.image_id for g in got] == [ids[5], ids[6]]


def test_max_leases_caps_what_one_person_holds(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    ranking = ranking_of(ids)
    assert [g.image_id for g in lease_next(project, ann, 10, ranking, MINUTES, max_leases=3)] == ids[:3]
    # Asking again gives the same three, not three more.
    assert [g.image_id for g in lease_next(project, ann, 10, ranking, MINUTES, max_leases=3)] == ids[:3]
    # A person already over a lowered cap keeps what they hold.
    assert [g.image_id for g in lease_next(project, ann, 10, ranking, MINUTES, max_leases=2)] == ids[:3]
    # Labeled (done) and expired leases do not count.
    annotate(project, ann, ids[0], "apple", ranking)
    expire(project, [ids[1]])
    got = lease_next(project, ann, 10, ranking, MINUTES, max_leases=3)
    assert [g.image_id for g in got] == [ids[2], ids[1], ids[3]]
    # Other people's leases do not count against ann.
    assert len(lease_next(project, person(project, "bob"), 10, ranking, MINUTES, max_leases=4)) == 4
    assert len(lease_next(project, ann, 1, ranking, MINUTES, max_leases=3)) == 1
    assert len(lease_next(project, person(project, "boss"), 10, ranking, MINUTES)) == len(ids) - 1 - 3 - 4


def test_other_peoples_leases_do_not_count_against_the_cap(project):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    lease_next(project, person(project, "bob"), 5, ranking, MINUTES, max_leases=5)
    got = lease_next(project, person(project, "ann"), 10, ranking, MINUTES, max_leases=3)
    assert [g.image_id for g in got] == ids[5:8]


def test_audit_picks_store_the_models_prediction_on_the_lease_and_the_label(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    ranking = Ranking(2, "auto", [
        QueueEntry(ids[0], 0.5, top=[("cherry", 0.7), ("apple", 0.2)], strategy="audit", audit=True),
        QueueEntry(ids[1], 0.4, top=[("banana", 0.55)]),
        QueueEntry(ids[2], 0.3),  # cold start: no model, no prediction, nothing to mark
    ])  # fmt: skip
    lease_next(project, ann, 3, ranking, MINUTES)
    held = leases(project)
    assert (held[ids[0]].audit, held[ids[0]].predicted, held[ids[0]].predicted_p) == (True, "cherry", 0.7)
    assert (held[ids[1]].audit, held[ids[1]].predicted, held[ids[1]].predicted_p) == (False, "banana", 0.55)
    assert (held[ids[2]].audit, held[ids[2]].predicted, held[ids[2]].predicted_p) == (False, None, None)
    assert held[ids[0]].strategy == "audit" and held[ids[1]].strategy == "auto"
    labels = {i: annotate(project, ann, i, "apple", None) for i in ids[:3]}
    with project.sessions() as session:
        got = {i: session.get(Annotation, a) for i, a in labels.items()}
    assert (got[ids[0]].audit, got[ids[0]].predicted, got[ids[0]].predicted_p) == (True, "cherry", 0.7)
    assert (got[ids[1]].audit, got[ids[1]].predicted, got[ids[1]].predicted_p) == (False, "banana", 0.55)
    assert (got[ids[0]].model_version, got[ids[0]].strategy, got[ids[0]].score) == (2, "audit", 0.5)
    assert (got[ids[1]].model_version, got[ids[1]].strategy, got[ids[1]].score) == (2, "auto", 0.4)


def test_a_label_without_a_lease_takes_what_chose_it_from_the_ranking_and_no_audit(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    ranking = Ranking(5, "margin", [QueueEntry(ids[3], 0.25, top=[("apple", 0.9)], strategy="explore", audit=True)])
    ranked = annotate(project, ann, ids[3], "banana", ranking)
    unranked = annotate(project, ann, ids[4], "banana", ranking)
    none = annotate(project, ann, ids[5], "banana", None)
    with project.sessions() as session:
        a, b, c = (session.get(Annotation, i) for i in (ranked, unranked, none))
        assert (a.model_version, a.strategy, a.score, a.audit, a.predicted) == (5, "explore", 0.25, False, None)
        assert (b.model_version, b.strategy, b.score) == (None, None, None)
        assert (c.model_version, c.strategy, c.score) == (None, None, None)
        assert (a.annotator, a.source, a.superseded) == ("ann", "server", False)
    assert leases(project)[ids[3]].done


def test_a_labeled_image_is_served_to_nobody(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    annotate(project, ann, ids[0], "apple", None)
    annotate(project, person(project, "bob"), ids[1], "apple", None)
    got = lease_next(project, ann, 3, ranking_of(ids), MINUTES)
    assert [g.image_id for g in got] == ids[2:5]
    assert ids[0] not in [g.image_id for g in lease_next(project, ann, 100, None, MINUTES)]


def test_an_image_labeled_outside_the_queue_is_served_to_nobody(project):
    ids = image_ids(project)
    with project.sessions.begin() as session:  # as `labelwise label` or a CSV import does: no lease row
        cls = session.scalar(select(LabelClass).where(LabelClass.name == "apple"))
        add_annotation(session, session.get(Image, ids[0]), cls, annotator="cli", source="cli")
    got = lease_next(project, person(project, "ann"), 100, ranking_of(ids), MINUTES)
    assert [g.image_id for g in got] == ids[1:]


def test_a_label_from_somebody_else_while_the_lease_is_live_is_refused(project):
    ids = image_ids(project)
    lease_next(project, person(project, "ann"), 1, ranking_of(ids), MINUTES)
    with pytest.raises(ConflictError, match=rf"image_id: image {ids[0]} is leased to ann until"):
        annotate(project, person(project, "bob"), ids[0], "apple", None)
    assert label_count(project) == 0
    expire(project, ids[:1])  # once it has run out, bob's label is taken
    annotate(project, person(project, "bob"), ids[0], "apple", None)
    assert label_count(project) == 1


def test_a_late_label_on_ones_own_expired_lease_is_kept(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    lease_next(project, ann, 1, ranking_of(ids, version=9), MINUTES)
    expire(project, ids[:1])
    annotation_id = annotate(project, ann, ids[0], "cherry", None, queued=True)
    with project.sessions() as session:
        assert session.get(Annotation, annotation_id).model_version == 9
    assert label_count(project) == 1 and leases(project)[ids[0]].done


def test_a_queued_label_of_an_image_somebody_else_labeled_meanwhile_is_refused(project):
    ids = image_ids(project)
    annotate(project, person(project, "bob"), ids[0], "apple", None)
    with pytest.raises(ConflictError, match=f"image_id: image {ids[0]} was labeled by bob after your lease"):
        annotate(project, person(project, "ann"), ids[0], "banana", None, queued=True)
    # Relabeling on purpose (grid, review) replaces it; one current label.
    annotate(project, person(project, "ann"), ids[0], "banana", None)
    # The same person relabeling from the queue is no conflict.
    annotate(project, person(project, "ann"), ids[0], "cherry", None, queued=True)
    with project.sessions() as session:
        current = session.scalars(select(Annotation).where(Annotation.superseded.is_(False))).all()
    assert [(a.annotator, a.image_id) for a in current] == [("ann", ids[0])] and label_count(project) == 1


def test_labels_of_unknown_images_classes_or_broken_images_are_refused(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    with pytest.raises(NotFoundError, match="image_id: no image 99999"):
        annotate(project, ann, 99999, "apple", None)
    with pytest.raises(LabelwiseError, match="label: unknown class 'pear'; the classes are: apple, banana, cherry"):
        annotate(project, ann, ids[0], "pear", None)
    with project.sessions.begin() as session:
        session.get(Image, ids[1]).status = "missing"
    try:
        with pytest.raises(LabelwiseError, match=f"image_id: image {ids[1]} is missing and cannot be labeled"):
            annotate(project, ann, ids[1], "apple", None)
        # and a broken image is never served
        assert ids[1] not in [g.image_id for g in lease_next(project, ann, 100, None, MINUTES)]
    finally:
        with project.sessions.begin() as session:
            session.get(Image, ids[1]).status = "ok"
    assert label_count(project) == 0 and ids[1] not in leases(project)


def test_renew_extends_only_ones_own_open_leases(project):
    ann, bob = person(project, "ann"), person(project, "bob")
    ids = image_ids(project)
    lease_next(project, ann, 3, ranking_of(ids), MINUTES)
    lease_next(project, bob, 1, ranking_of(ids), MINUTES)
    annotate(project, ann, ids[0], "apple", None)
    before = leases(project)
    assert renew(project, ann, [ids[2], ids[1], ids[0], ids[3], 99999], 3 * MINUTES) == [ids[1], ids[2]]
    after = leases(project)
    for i in ids[1:3]:
        assert after[i].expires_at > before[i].expires_at + timedelta(minutes=MINUTES)
    for i in (ids[0], ids[3]):
        assert after[i].expires_at == before[i].expires_at
    assert renew(project, ann, [], MINUTES) == []


def test_undo_brings_back_the_label_it_replaced(project):
    ann, bob = person(project, "ann"), person(project, "bob")
    ids = image_ids(project)
    first = annotate(project, bob, ids[0], "apple", None)
    second = annotate(project, ann, ids[0], "banana", None)
    assert undo(project, ann, second, MINUTES) == ids[0]
    with project.sessions() as session:
        undone = session.get(Annotation, second)  # kept for the audit trail, marked undone
        assert undone.deleted_at is not None and undone.deleted_by == ann.id and undone.superseded
        assert session.get(Annotation, first).superseded is False
    assert label_count(project) == 1


def test_undoing_a_superseded_label_leaves_the_current_one(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    first = annotate(project, ann, ids[0], "apple", None)
    second = annotate(project, ann, ids[0], "banana", None)
    undo(project, ann, first, MINUTES)
    with project.sessions() as session:
        assert session.get(Annotation, second).superseded is False
    assert label_count(project) == 1 and leases(project)[ids[0]].done


def test_undoing_the_only_label_gives_the_image_back_to_its_author(project):
    ann, boss = person(project, "ann"), person(project, "boss")
    ids = image_ids(project)
    lease_next(project, ann, 1, ranking_of(ids), MINUTES)
    annotation_id = annotate(project, ann, ids[0], "apple", None)
    before = utcnow()
    undo(project, ann, annotation_id, MINUTES)
    lease = leases(project)[ids[0]]
    assert (lease.done, lease.user_id) == (False, ann.id)
    assert lease.expires_at.replace(tzinfo=before.tzinfo) - before >= timedelta(minutes=MINUTES - 0.1)
    assert label_count(project) == 0
    assert [g.image_id for g in lease_next(project, ann, 1, ranking_of(ids[1:]), MINUTES)] == [ids[0]]
    # an admin's undo of somebody's label gives the image to the admin
    annotation_id = annotate(project, ann, ids[0], "apple", None)
    undo(project, boss, annotation_id, MINUTES)
    assert leases(project)[ids[0]].user_id == boss.id


def test_only_the_author_or_an_admin_may_undo(project):
    ids = image_ids(project)
    annotation_id = annotate(project, person(project, "ann"), ids[0], "apple", None)
    with pytest.raises(ForbiddenError, match=f"annotation {annotation_id}: only its author or an admin may undo it"):
        undo(project, person(project, "bob"), annotation_id, MINUTES)
    assert label_count(project) == 1
    with pytest.raises(NotFoundError, match="annotation 99999: not found"):
        undo(project, person(project, "ann"), 99999, MINUTES)


def test_a_skipped_image_goes_to_the_others_not_back_to_the_skipper(project):
    ann, bob = person(project, "ann"), person(project, "bob")
    ids = image_ids(project)
    lease_next(project, ann, 2, ranking_of(ids), MINUTES)
    skip(project, ann, ids[0])
    assert ids[0] not in leases(project) and ids[1] in leases(project)
    got = lease_next(project, ann, 2, ranking_of(ids), MINUTES)
    assert [g.image_id for g in got] == [ids[1], ids[2]]
    assert ids[0] not in [g.image_id for g in lease_next(project, ann, 100, None, MINUTES)]
    assert [g.image_id for g in lease_next(project, bob, 1, ranking_of(ids), MINUTES)] == [ids[0]]


def test_skipping_another_persons_lease_does_not_free_it(project):
    ids = image_ids(project)
    lease_next(project, person(project, "ann"), 1, ranking_of(ids), MINUTES)
    skip(project, person(project, "bob"), ids[0])
    assert leases(project)[ids[0]].user_id == person(project, "ann").id


def test_a_skip_from_yesterday_no_longer_hides_the_image(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    skip(project, ann, ids[0])
    with project.sessions.begin() as session:
        session.execute(update(Skip).values(skipped_at=utcnow() - timedelta(days=1)))
    assert [g.image_id for g in lease_next(project, ann, 1, ranking_of(ids), MINUTES)] == [ids[0]]


def test_a_skip_counts_from_midnight_utc(project):
    ann = person(project, "ann")
    ids = image_ids(project)
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    for i, moment in ((ids[0], midnight + timedelta(seconds=30)), (ids[1], midnight - timedelta(seconds=1))):
        skip(project, ann, i)
        with project.sessions.begin() as session:
            session.execute(update(Skip).where(Skip.image_id == i).values(skipped_at=moment))
    # today's skip (just after midnight) hides ids[0]; yesterday's last second does not hide ids[1]
    assert [g.image_id for g in lease_next(project, ann, 2, ranking_of(ids), MINUTES)] == [ids[1], ids[2]]


def test_skipping_an_unknown_image_is_refused(project):
    with pytest.raises(NotFoundError, match="image_id: no image 99999"):
        skip(project, person(project, "ann"), 99999)


def test_recent_labels_are_ones_own_current_queue_labels_newest_last(project):
    ann, bob = person(project, "ann"), person(project, "bob")
    ids = image_ids(project)
    names = ("apple", "banana", "cherry", "apple")
    mine = [annotate(project, ann, i, name, None) for i, name in zip(ids[:4], names, strict=True)]
    annotate(project, bob, ids[5], "apple", None)
    annotate(project, ann, ids[3], "cherry", None)  # supersedes mine[3]
    with project.sessions.begin() as session:  # a label from the CLI is no page label
        session.get(Annotation, mine[0]).source = "cli"
    got = recent_labels(project, ann)
    assert [(r["image_id"], r["label"]) for r in got] == [(ids[1], "banana"), (ids[2], "cherry"), (ids[3], "cherry")]
    with project.sessions() as session:
        assert got[0]["path"] == session.get(Image, ids[1]).path and got[0]["id"] == mine[1]
    assert [r["image_id"] for r in recent_labels(project, ann, limit=2)] == [ids[2], ids[3]]
    assert label_count(project) == 5


def test_a_retired_class_is_refused_and_the_offered_classes_come_in_their_order(project):
    # Retire apple and move banana after cherry: the refusal says why and lists the classes still
    # offered in the project's order, not the order they were added in.
    ann = person(project, "ann")
    with project.sessions.begin() as session:
        classes = {c.name: c for c in session.scalars(select(LabelClass))}
        saved = {name: (c.position, c.retired) for name, c in classes.items()}
        classes["apple"].retired = True
        classes["banana"].position = 100  # positions are unique: banana moves to the end
    try:
        with pytest.raises(
            LabelwiseError, match=r"^label: class is retired: 'apple'; the classes are: cherry, banana$"
        ):
            annotate(project, ann, image_ids(project)[0], "apple", None)
    finally:
        with project.sessions.begin() as session:
            for c in session.scalars(select(LabelClass)):
                c.position, c.retired = saved[c.name]
    assert label_count(project) == 0


def test_a_lease_commits_without_waiting_for_the_disk_and_a_label_with_it(project, monkeypatch):
    """A lease is recoverable (lost to a power cut, the image is free again); an acknowledged label must
    survive one: the lease's commit runs at synchronous=NORMAL, the label's at FULL, and the connection
    is FULL again after the lease (the next transaction on it may be a label)."""
    from labelwise.store import db

    seen = []
    commit = db._OneWriterConnection.commit

    def spy(self):
        if self.in_transaction:
            seen.append(self.execute("PRAGMA synchronous").fetchone()[0])
        commit(self)

    monkeypatch.setattr(db._OneWriterConnection, "commit", spy)
    ann = person(project, "ann")
    leased = lease_next(project, ann, 1, None, MINUTES)
    assert seen == [1]  # NORMAL
    annotate(project, ann, leased[0].image_id, "apple", None)
    assert seen == [1, 2]  # FULL
    with project.sessions() as session:  # every pooled connection is back to FULL
        assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2
