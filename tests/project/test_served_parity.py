"""Serve what was proven: the images the server serves first are the simulator's batch, for every strategy.

A real project (real PNG files, squeezenet embeddings, SQLite), trained by the server's training
function and leased through the real queue, against ``run_one`` of the simulator on the same
embeddings, labels, settings and seed.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from labelwise.loop.datasets import Dataset
from labelwise.loop.simulate import initial_indices, run_one
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import label_image
from labelwise.project.pool import load_pool
from labelwise.project.queue import Leased, annotate, lease_next
from labelwise.project.settings import get_settings, update_settings
from labelwise.project.training import QueueEntry, Ranking, batch_size, train_and_rank
from labelwise.project.users import add_user, user_for_token
from labelwise.store.models import User
from labelwise.strategies import strategy_names

SEED = 3
INITIAL = 20
RETRAIN_EVERY = 10


@pytest.fixture(scope="module")
def template(tmp_path_factory, fashion_folder):
    """A project whose ``INITIAL`` labels are the simulator's initial labels for ``SEED``."""
    project = Project.create(tmp_path_factory.mktemp("parity") / "proj", fashion_folder, backbone="squeezenet")
    project.add_classes(sorted(p.name for p in fashion_folder.iterdir()))
    ingest_folder(project)
    pool = load_pool(project)
    y = np.array([pool.class_names.index(path.split("/")[0]) for path in pool.paths])
    dataset = Dataset("served", pool.X, y, pool.X, y, tuple(pool.class_names))
    for i in initial_indices(dataset, INITIAL, SEED):
        label_image(project, pool.paths[i], pool.class_names[y[i]])
    project.close()
    return project.folder, pool, dataset


@pytest.fixture
def served(template, tmp_path):
    """A fresh copy of the template project: no model trained yet, nothing leased."""
    folder, pool, dataset = template
    shutil.copytree(folder, tmp_path / "proj")
    project = Project(tmp_path / "proj")
    yield project, pool, dataset
    project.close()


def train_and_lease(project: Project, settings: dict, user: User, n: int) -> list[Leased]:
    """Train as the server's retrainer does, then lease the first ``n`` images through the queue."""
    ranking, _ = train_and_rank(project, settings, seed=SEED)
    return lease_next(project, user, n, ranking, 10)


@pytest.mark.parametrize("explore", [0.0, 0.3])
@pytest.mark.parametrize("name", strategy_names())
def test_the_server_serves_the_simulators_batches(served, name, explore):
    project, pool, dataset = served
    settings = update_settings(project, {"strategy": name, "explore": explore, "retrain_every": RETRAIN_EVERY,
                                         "queue_size": 60}, user="test")  # fmt: skip
    ann = user_for_token(project, add_user(project, "ann"))
    # The project's head (auto by default) in both: parity covers the head the server chose as well.
    _, loop = run_one(dataset, name, SEED, INITIAL, RETRAIN_EVERY, INITIAL + 2 * RETRAIN_EVERY, explore=explore,
                      head=settings["head"])  # fmt: skip
    truth = dict(zip(pool.image_ids.tolist(), dataset.y_pool.tolist(), strict=True))
    for round_ in (1, 2):  # the first retrain, then the next one after its batch is labeled
        served_ids = [leased.image_id for leased in train_and_lease(project, settings, ann, RETRAIN_EVERY)]
        assert served_ids == pool.image_ids[loop.history[round_].selected].tolist(), f"round {round_}"
        for image_id in served_ids:
            annotate(project, ann, image_id, pool.class_names[truth[image_id]], None)


@pytest.mark.parametrize("name", ["typiclust", "auto"])
def test_large_pools_are_served_the_simulators_batches_too(served, name, monkeypatch):
    """Above TYPICALITY_ONCE_FROM, TypiClust reads the pool's clustering and typicality made once (kept
    by the training worker between retrains); the simulator makes them the same way."""
    monkeypatch.setattr("labelwise.loop.active_loop.TYPICALITY_ONCE_FROM", 0)
    test_the_server_serves_the_simulators_batches(served, name, 0.0)


def test_the_batch_grows_with_the_people_labeling(served):
    project, _, _ = served
    settings = update_settings(project, {"strategy": "typiclust", "retrain_every": 5, "queue_size": 80}, user="test")
    assert batch_size(project, settings) == 5  # nobody holds a lease: one batch of retrain_every
    people = [user_for_token(project, add_user(project, name)) for name in ("anna", "ben", "cleo")]
    for person in people:
        lease_next(project, person, 1, None, 10)
    assert batch_size(project, get_settings(project)) == 15
    ranking, _ = train_and_rank(project, settings, seed=SEED)
    # Four batches built one by one (EXACT_BATCHES), then the rest of the queue as one.
    assert [e.batch for e in ranking.entries] == [1] * 15 + [2] * 15 + [3] * 15 + [4] * 15 + [5] * 20


def test_the_queue_serves_the_ranking_in_its_order(served):
    project, _, _ = served
    pool = load_pool(project)
    free = pool.image_ids[pool.labels < 0]
    order = [int(i) for i in free[::-7][:12]]  # neither id order nor pool order
    ranking = Ranking(1, "test", [QueueEntry(i, float(-k), [], batch=1 + k // 4, strategy=f"s{k}")
                                  for k, i in enumerate(order)])  # fmt: skip
    ann, bob = (user_for_token(project, add_user(project, name)) for name in ("ann", "bob"))
    first = lease_next(project, ann, 3, ranking, 10)
    second = lease_next(project, bob, 4, ranking, 10)
    third = lease_next(project, ann, 5, ranking, 10)  # renews ann's 3, then the next 2
    assert [x.image_id for x in first] == order[:3]
    assert [x.image_id for x in second] == order[3:7]
    assert [x.image_id for x in third] == order[:3] + order[7:9]
    assert [x.strategy for x in second] == ["s3", "s4", "s5", "s6"]  # what chose each image
