"""project/queue.py on PostgreSQL under contention: people served rankings in different orders (a new
model version reaches one person before another) take leases in different orders, which deadlocks
without the retry of the transaction (seen in CI as a 500 from /api/queue/next)."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import func, select

from labelwise.project import Project
from labelwise.project.queue import lease_next
from labelwise.project.training import QueueEntry, Ranking
from labelwise.project.users import add_user
from labelwise.store.models import STATUS_OK, Image, Lease, User


@pytest.fixture
def crowded(tmp_path, pg_url) -> Project:
    (tmp_path / "images").mkdir()
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet", db_url=pg_url)
    with project.sessions.begin() as session:
        session.add_all(Image(path=f"{i}.png", content_hash=f"{i:064x}", status=STATUS_OK) for i in range(60))
    for k in range(8):
        add_user(project, f"annotator-{k}", "annotator")
    yield project
    project.close()


def test_people_served_different_orders_never_see_a_deadlock(crowded):
    with crowded.sessions() as session:
        people = list(session.scalars(select(User)))
        ids = list(session.scalars(select(Image.id)))
    errors: list[str] = []
    served: list[list[int]] = []

    def annotator(user: User, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(80):
            order = rng.sample(ids, 50)
            ranking = Ranking(version=1, strategy="test", entries=[QueueEntry(i, 0.5) for i in order])
            try:
                # Leases of 6 ms: they run out at once, so every call competes for the same images.
                served.append([x.image_id for x in lease_next(crowded, user, 3, ranking, lease_minutes=0.0001)])
            except Exception as error:  # reported by the assertion below
                errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                return

    threads = [threading.Thread(target=annotator, args=(user, k)) for k, user in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert errors == []
    # Every call came back. (Not always with 3 images: with leases this short, a call that waited a
    # second for PostgreSQL's deadlock detection sees every image leased since it started.)
    assert len(served) == 8 * 80 and sum(map(len, served)) > 2 * len(served)
    with crowded.sessions() as session:  # one lease row per image at most: the primary key held
        assert session.scalar(select(func.count()).select_from(Lease)) <= 60


def test_a_lease_commits_asynchronously_on_postgresql_and_a_label_does_not(crowded):
    """PostgreSQL's asynchronous commit for the lease only (a lease may be lost to a crash without harm);
    ``SET LOCAL`` ends with its transaction, so the label's commit waits for the WAL flush."""
    from sqlalchemy import event

    from labelwise.project.queue import annotate

    crowded.add_classes(["cat", "dog"])
    user = crowded.sessions().scalar(select(User).where(User.name == "annotator-0"))
    states = []
    engine = crowded.sessions.kw["bind"]

    @event.listens_for(engine, "commit")
    def _commit(connection):
        states.append(connection.exec_driver_sql("SHOW synchronous_commit").scalar())

    leased = lease_next(crowded, user, 1, None, 10.0)
    annotate(crowded, user, leased[0].image_id, "cat", None)
    event.remove(engine, "commit", _commit)
    assert states == ["off", "on"]
