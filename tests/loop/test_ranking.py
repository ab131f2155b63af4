"""The one ranking pipeline: the queue is the strategy's successive batches, not one big batch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from labelwise.loop import ActiveLoop
from labelwise.loop.ranking import EXPLORE_LABEL, batch_seed, build_queue, rank_pool
from labelwise.strategies import PoolView, Strategy, get_strategy, strategy_names

SEED = 12345


@pytest.fixture(scope="module")
def view() -> PoolView:
    """600 items in 8 clusters in 6-D, 40 labeled, with predictions and committee samples."""
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 4, size=(8, 6))
    y = rng.integers(0, 8, 600)
    X = (centres[y] + rng.normal(0, 1.5, size=(600, 6))).astype(np.float32)
    labeled = np.zeros(600, dtype=bool)
    labeled[rng.choice(600, 40, replace=False)] = True
    samples = rng.dirichlet(np.ones(8), size=(4, 600))
    labels = np.where(labeled, y, -1)
    return PoolView(labeled=labeled, probs=samples.mean(axis=0), samples=samples, embeddings=X, labels=labels,
                    n_classes=8)  # fmt: skip


@pytest.mark.parametrize("name", strategy_names())
@pytest.mark.parametrize("explore", [0.0, 0.3])
def test_each_batch_is_what_the_strategy_picks_with_the_earlier_batches_taken(view, name, explore):
    strategy = get_strategy(name)
    queue = build_queue(strategy, view, batch_size=10, queue_size=30, seed=SEED, explore=explore)
    assert [p.batch for p in queue.picks] == [1] * 10 + [2] * 10 + [3] * 10
    assert [p.index for p in queue.batch(1)] == strategy.query(view, 10, seed=SEED, explore=explore).tolist()
    taken = np.zeros(view.size, dtype=bool)
    for number in (1, 2, 3):
        batch_view = replace(view, labeled=view.labeled | taken)
        # Scoring strategies slice the scoring of batch 1 (random's scores depend on the seed).
        expected = strategy.rank(batch_view, 10, seed=batch_seed(SEED, number), explore=explore, scores=queue.scores)
        assert [p.index for p in queue.batch(number)] == expected.indices.tolist()
        taken[expected.indices] = True
    assert len(set(queue.indices.tolist())) == 30 and not view.labeled[queue.indices].any()


def test_set_strategies_build_the_tail_of_the_queue_in_one_call(view):
    kcenter, margin = get_strategy("kcenter"), get_strategy("margin")
    queue = build_queue(kcenter, view, batch_size=10, queue_size=100, seed=SEED, exact_batches=2)
    assert [len(queue.batch(b)) for b in (1, 2, 3)] == [10, 10, 80]
    exact = build_queue(kcenter, view, batch_size=10, queue_size=100, seed=SEED)
    assert queue.indices[:20].tolist() == exact.indices[:20].tolist()
    scored = build_queue(margin, view, batch_size=10, queue_size=100, seed=SEED, exact_batches=2)
    assert [len(scored.batch(b)) for b in range(1, 11)] == [10] * 10  # slicing one scoring costs nothing


def test_batch_one_is_what_the_simulator_asks_for_not_the_head_of_one_big_batch(view):
    typiclust = get_strategy("typiclust")
    queue = build_queue(typiclust, view, batch_size=10, queue_size=200, seed=SEED)
    first_ten = queue.indices[:10].tolist()
    assert first_ten == typiclust.query(view, 10, seed=SEED).tolist()
    # What the server used to serve: the head of a 200-item batch, i.e. 200 clusters, densest first.
    assert first_ten != typiclust.query(view, 200, seed=SEED)[:10].tolist()


def test_scoring_strategies_score_once_and_slice_that_scoring(view):
    calls = []

    def counted(v: PoolView, seed: int | None) -> np.ndarray:
        calls.append(seed)
        return 1.0 - v.probs.max(axis=1)

    strategy = Strategy("counted", "least confidence, counted", frozenset({"probs"}), score=counted)
    queue = build_queue(strategy, view, batch_size=7, queue_size=50, seed=SEED)
    assert len(calls) == 1
    scores = [p.score for p in queue.picks]
    assert scores == sorted(scores, reverse=True)  # successive top slices of one scoring
    free = np.flatnonzero(~view.labeled)
    best = free[np.argsort(-(1.0 - view.probs[free].max(axis=1)))[:50]]
    assert sorted(queue.indices.tolist()) == sorted(best.tolist())
    assert all(p.score == pytest.approx(1.0 - view.probs[p.index].max()) for p in queue.picks)


def test_explore_picks_are_in_every_batch_and_marked(view):
    queue = build_queue(get_strategy("margin"), view, batch_size=10, queue_size=40, seed=SEED, explore=0.5)
    for number in (1, 2, 3, 4):
        labels = [p.strategy for p in queue.batch(number)]
        assert labels == ["margin"] * 5 + [EXPLORE_LABEL] * 5
    first = queue.batch(1)
    explorers = [p.score for p in first[5:]]
    # Random picks, not the top of the scoring: the queue's first batch reaches them.
    assert max(explorers) < min(p.score for p in first[:5])


def test_auto_says_per_batch_which_phase_chose_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    labeled = np.zeros(300, dtype=bool)
    labeled[:35] = True  # 2 classes x 20 labels is the switch; batch 1 is typical, batch 2 is not
    probs = rng.dirichlet(np.ones(2), size=300)
    view = PoolView(labeled=labeled, probs=probs, embeddings=X, n_classes=2)
    queue = build_queue(get_strategy("auto"), view, batch_size=5, queue_size=10, seed=SEED)
    assert queue.strategy == "auto: typiclust"
    assert {p.strategy for p in queue.batch(1)} == {"auto: typiclust"}
    assert {p.strategy for p in queue.batch(2)} <= {"auto: cluster-margin", EXPLORE_LABEL}


def test_the_queue_stops_at_the_pool_and_refuses_an_empty_one(view):
    few = replace(view, labeled=np.arange(view.size) >= 25)
    queue = build_queue(get_strategy("kcenter"), few, batch_size=10, queue_size=200, seed=SEED)
    assert sorted(queue.indices.tolist()) == list(range(25))
    assert [len(queue.batch(b)) for b in (1, 2, 3)] == [10, 10, 5]
    from labelwise.errors import EmptyPoolError

    with pytest.raises(EmptyPoolError):
        build_queue(get_strategy("margin"), replace(view, labeled=np.ones(view.size, bool)), batch_size=5,
                    queue_size=5)  # fmt: skip
    with pytest.raises(ValueError, match="batch_size"):
        build_queue(get_strategy("margin"), view, batch_size=0, queue_size=5)


def test_rank_pool_trains_and_gives_top_classes_and_the_loop_query_is_its_first_batch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
    loop = ActiveLoop(X, 4, strategy="entropy", estimate_accuracy=False, seed=4)
    loop.teach(np.arange(20), y[:20])
    queue = rank_pool(loop, batch_size=5, queue_size=20)
    assert loop.model is not None and queue.strategy == "entropy" == loop.last_strategy
    assert all(len(p.top) == 3 and p.top[0][1] >= p.top[1][1] >= p.top[2][1] for p in queue.picks)
    assert all(p.top[0][0] == int(queue.view.probs[p.index].argmax()) for p in queue.picks)
    assert loop.query(5, queue.view).tolist() == queue.indices[:5].tolist()


def test_cold_start_is_labeled_as_such():
    X = np.random.default_rng(2).normal(size=(50, 3)).astype(np.float32)
    loop = ActiveLoop(X, 3, strategy="margin", estimate_accuracy=False)
    loop.teach([0, 1], [0, 0])
    queue = rank_pool(loop, batch_size=4, queue_size=8)
    assert queue.strategy == "random (cold start)"
    assert {p.strategy for p in queue.picks} == {"random (cold start)"}
    assert all(p.top == () for p in queue.picks)
