"""Serve what was proven: the images the server serves first are the simulator's batch, for every strategy.

A real project (real PNG files, squeezenet embeddings, SQLite), trained by the server's training
function and leased through the real queue, against ``run_one`` of the simulator on the same
embeddings, labels, settings and seed.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete

from labelwise.loop.datasets import Dataset
from labelwise.loop.simulate import initial_indices, run_one
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import label_image
from labelwise.project.pool import load_pool
from labelwise.project.queue import lease_next
from labelwise.project.settings import get_settings, update_settings
from labelwise.project.training import batch_size, train_and_rank
from labelwise.project.users import add_user, user_for_token
from labelwise.store.models import Lease
from labelwise.strategies import strategy_names

SEED = 3
INITIAL = 20
RETRAIN_EVERY = 10


@pytest.fixture(scope="module")
def served(tmp_path_factory, fashion_folder):
    """A project whose ``INITIAL`` labels are the simulator's initial labels for ``SEED``."""
    project = Project.create(tmp_path_factory.mktemp("parity") / "proj", fashion_folder, backbone="squeezenet")
    project.add_classes(sorted(p.name for p in fashion_folder.iterdir()))
    ingest_folder(project)
    pool = load_pool(project)
    y = np.array([pool.class_names.index(path.split("/")[0]) for path in pool.paths])
    dataset = Dataset("served", pool.X, y, pool.X, y, tuple(pool.class_names))
    for i in initial_indices(dataset, INITIAL, SEED):
        label_image(project, pool.paths[i], pool.class_names[y[i]])
    yield project, pool, dataset
    project.close()


def served_first(project: Project, settings: dict, n: int, people: int = 1) -> list[int]:
    """Train as the server does, then lease the first ``n`` images through the queue."""
    ranking, _ = train_and_rank(project, settings, seed=SEED)
    users = [user_for_token(project, add_user(project, f"p{i}-{np.random.randint(1 << 30)}")) for i in range(people)]
    try:
        return [leased.image_id for leased in lease_next(project, users[0], n, ranking, 10)]
    finally:
        with project.sessions.begin() as session:
            session.execute(delete(Lease))


@pytest.mark.parametrize("explore", [0.0, 0.3])
@pytest.mark.parametrize("name", strategy_names())
def test_the_server_serves_the_simulators_batch(served, name, explore):
    project, pool, dataset = served
    settings = update_settings(project, {"strategy": name, "explore": explore, "retrain_every": RETRAIN_EVERY,
                                         "queue_size": 60}, user="test")  # fmt: skip
    got = served_first(project, settings, RETRAIN_EVERY)
    _, loop = run_one(dataset, name, SEED, INITIAL, RETRAIN_EVERY, INITIAL + RETRAIN_EVERY, explore=explore)
    simulated = pool.image_ids[loop.history[1].selected].tolist()
    assert got == simulated


def test_the_batch_grows_with_the_people_labeling(served):
    project, _, _ = served
    settings = update_settings(project, {"strategy": "typiclust", "explore": 0.0, "retrain_every": 5,
                                         "queue_size": 60}, user="test")  # fmt: skip
    assert batch_size(project, settings) == 5  # nobody holds a lease: still one batch of retrain_every
    people = [user_for_token(project, add_user(project, name)) for name in ("anna", "ben", "cleo")]
    try:
        for person in people:
            lease_next(project, person, 1, None, 10)
        assert batch_size(project, get_settings(project)) == 15
        ranking, _ = train_and_rank(project, settings, seed=SEED)
        assert [e.batch for e in ranking.entries[:30]] == [1] * 15 + [2] * 15
    finally:
        with project.sessions.begin() as session:
            session.execute(delete(Lease))
