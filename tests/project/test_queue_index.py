"""The queue's in-memory index of a ranking (project/free_index.py) and how lease_next walks it: the
database stays the authority, the index only spares it questions it has already answered."""

from __future__ import annotations

import contextlib
import time

from sqlalchemy import select

from labelwise.project.free_index import CLAIM_S, FreeIndex
from labelwise.project.labels import add_annotation
from labelwise.project.queue import _RankingWalk, annotate, lease_next, skip, undo
from labelwise.store.models import Image, LabelClass, utcnow
from tests.project import test_queue_unit as unit
from tests.project.test_queue_unit import MINUTES, expire, image_ids, person, ranking_of

project, fresh = unit.project, unit.fresh  # the same real SQLite project, emptied before each test


# -- the index alone ----------------------------------------------------------------------------------
def test_claims_come_in_ranking_order_and_are_not_handed_out_twice():
    index = FreeIndex([5, 3, 9, 1, 7])
    assert index.claim(2) == [5, 3]
    assert index.claim(2) == [9, 1]  # a concurrent request gets the next ones
    index.release([5])
    assert index.claim(5) == [5, 7]


def test_labeled_images_are_never_offered_again_and_the_rest_comes_back_after_settling():
    index = FreeIndex([5, 3, 9, 1])
    claimed = index.claim(3)
    index.settle(claimed, labeled=[5, 9], leased={})
    assert index.claim(10) == [3, 1]


def test_an_undone_label_is_offered_again_in_its_place():
    index = FreeIndex([5, 3, 9])
    index.settle(index.claim(3), labeled=[5, 3], leased={})
    index.note_free(5)
    assert index.claim(10) == [5, 9]


def test_leased_images_are_offered_but_not_counted():
    index = FreeIndex([5, 3, 9, 1, 7])
    index.settle(index.claim(5), labeled=[], leased={5: time.time() + 60, 3: time.time() + 60, 9: time.time() - 1})
    # 5 and 3 are checked again (a lease may end early) but the two asked for are 9 and 1.
    assert index.claim(2) == [5, 3, 9, 1]


def test_a_claim_runs_out_by_itself(monkeypatch):
    index = FreeIndex([5, 3])
    assert index.claim(1) == [5]
    later = time.monotonic() + CLAIM_S + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert index.claim(1) == [5]


# -- lease_next through the index ---------------------------------------------------------------------
def _label_outside_the_queue(project, ids):
    with project.sessions.begin() as session:
        cls = session.scalar(select(LabelClass).limit(1))
        for i in ids:
            add_annotation(session, session.get(Image, i), cls, annotator="cli", source="cli")


def _ids_asked_about(call, monkeypatch):
    """What ``call`` returns, and the image ids the index offered it: the ids it asks the database
    about (the walk asks about exactly these, see the last test)."""
    asked: list[int] = []
    claim = FreeIndex.claim

    def recording(self, k):
        out = claim(self, k)
        asked.extend(out)
        return out

    monkeypatch.setattr(FreeIndex, "claim", recording)
    result = call()
    monkeypatch.setattr(FreeIndex, "claim", claim)
    return result, asked


def test_what_one_request_found_labeled_the_next_request_does_not_ask_about(project, monkeypatch):
    ids = image_ids(project)
    _label_outside_the_queue(project, ids[:6])
    ranking = ranking_of(ids)
    ann = person(project, "ann")
    first, asked_first = _ids_asked_about(lambda: lease_next(project, ann, 1, ranking, MINUTES), monkeypatch)
    assert [g.image_id for g in first] == [ids[6]]
    assert set(ids[:6]) <= set(asked_first)  # it had to find out
    bob = person(project, "bob")
    second, asked_second = _ids_asked_about(lambda: lease_next(project, bob, 1, ranking, MINUTES), monkeypatch)
    assert [g.image_id for g in second] == [ids[7]]
    assert not set(ids[:6]) & set(asked_second)  # known: not asked again


def test_a_lease_that_ran_out_is_served_again_from_the_same_ranking(project):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    lease_next(project, person(project, "ann"), 2, ranking, MINUTES)
    expire(project, ids[:1])
    assert [g.image_id for g in lease_next(project, person(project, "bob"), 1, ranking, MINUTES)] == [ids[0]]


def test_an_undone_label_goes_back_to_its_author_and_then_to_the_queue(project):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    ann, bob = person(project, "ann"), person(project, "bob")
    lease_next(project, ann, 1, ranking, MINUTES)
    annotation_id = annotate(project, ann, ids[0], "apple", ranking)
    assert [g.image_id for g in lease_next(project, bob, 1, ranking, MINUTES)] == [ids[1]]  # ids[0] learned labeled
    undo(project, ann, annotation_id, MINUTES)
    expire(project, [ids[0]])
    assert [g.image_id for g in lease_next(project, bob, 2, ranking, MINUTES)] == [ids[1], ids[0]]


def test_an_image_one_person_skipped_is_still_served_to_the_next(project):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    ann, bob = person(project, "ann"), person(project, "bob")
    lease_next(project, ann, 1, ranking, MINUTES)
    skip(project, ann, ids[0])
    assert [g.image_id for g in lease_next(project, ann, 1, ranking, MINUTES)] == [ids[1]]
    assert [g.image_id for g in lease_next(project, bob, 1, ranking, MINUTES)] == [ids[0]]


def test_a_failed_request_hands_its_claims_back(project, monkeypatch):
    ids = image_ids(project)
    ranking = ranking_of(ids)
    ann = person(project, "ann")

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("labelwise.project.queue._acquire", broken)
    with contextlib.suppress(RuntimeError):
        lease_next(project, ann, 2, ranking, MINUTES)
    monkeypatch.undo()
    assert [g.image_id for g in lease_next(project, ann, 2, ranking, MINUTES)] == ids[:2]


def test_the_walk_and_the_free_query_agree_on_what_is_free(project):
    """The walk classifies images in one query; it must call free exactly what _free calls free."""
    from labelwise.project.queue import _free

    ids = image_ids(project)
    ann, bob = person(project, "ann"), person(project, "bob")
    _label_outside_the_queue(project, ids[:2])
    lease_next(project, bob, 2, ranking_of(ids[2:4]), MINUTES)  # live leases of somebody else
    lease_next(project, ann, 1, ranking_of(ids[4:5]), MINUTES)
    expire(project, [ids[4]])  # a lease that ran out: free again
    skip(project, ann, ids[5])  # free for bob, not for ann
    lease_next(project, ann, 1, ranking_of(ids[6:7]), MINUTES)
    annotate(project, ann, ids[6], "apple", None)  # labeled through the queue: lease done
    for user in (ann, bob):
        now = utcnow()
        walk = _RankingWalk(project, ranking_of(ids), user.id, now)
        with walk, project.sessions() as session:
            found = walk.next_free(session, len(ids))
            expected = set(session.scalars(_free(now, user.id)))
        assert set(found) == expected
        assert found == [i for i in ids if i in expected]  # in ranking order
        assert walk.labeled == {ids[0], ids[1], ids[6]}
        assert set(walk.leases) == {ids[2], ids[3]}
