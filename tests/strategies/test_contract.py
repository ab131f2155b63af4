"""The contract every registered strategy passes (after small-text's query-strategy test mixin)."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.errors import EmptyPoolError, UnknownStrategyError
from labelwise.strategies import PoolView, get_strategy, strategy_names

N, K, M, D = 60, 4, 5, 8


def make_view(labeled: np.ndarray, seed: int = 0) -> PoolView:
    rng = np.random.default_rng(seed)
    samples = rng.dirichlet(np.ones(K), size=(M, N))
    embeddings = rng.normal(size=(N, D))
    labels = np.where(labeled, rng.integers(0, K, N), -1)
    return PoolView(labeled=labeled, probs=samples.mean(axis=0), samples=samples, embeddings=embeddings, labels=labels)


def some_labeled(n_labeled: int = 10) -> np.ndarray:
    labeled = np.zeros(N, dtype=bool)
    labeled[np.random.default_rng(1).choice(N, n_labeled, replace=False)] = True
    return labeled


@pytest.fixture(params=strategy_names())
def strategy(request):
    return get_strategy(request.param)


def test_registry_holds_the_documented_strategies():
    assert {"random", "least-confidence", "margin", "entropy", "variance", "bald"} <= set(strategy_names())


def test_query_returns_n_distinct_unlabeled_indices(strategy):
    labeled = some_labeled()
    picked = strategy.query(make_view(labeled), 7, seed=3)
    assert picked.shape == (7,)
    assert np.issubdtype(picked.dtype, np.integer)
    assert len(set(picked.tolist())) == 7
    assert not labeled[picked].any()


def test_query_is_deterministic_for_a_seed(strategy):
    view = make_view(some_labeled())
    np.testing.assert_array_equal(strategy.query(view, 9, seed=11), strategy.query(view, 9, seed=11))


def test_query_takes_what_is_left_when_n_exceeds_the_pool(strategy):
    labeled = np.ones(N, dtype=bool)
    labeled[[3, 17, 42]] = False
    picked = strategy.query(make_view(labeled), 10, seed=0)
    assert sorted(picked.tolist()) == [3, 17, 42]


def test_query_exhausts_the_pool_batch_by_batch(strategy):
    labeled = some_labeled()
    view_seed = 0
    seen: list[int] = []
    while not labeled.all():
        picked = strategy.query(make_view(labeled, view_seed), 8, seed=view_seed)
        assert picked.size == min(8, int((~labeled).sum()))
        seen.extend(picked.tolist())
        labeled[picked] = True
        view_seed += 1
    assert len(seen) == len(set(seen)) == N - 10


def test_query_on_an_empty_pool_raises_a_clear_error(strategy):
    with pytest.raises(EmptyPoolError, match="no unlabeled item"):
        strategy.query(make_view(np.ones(N, dtype=bool)), 5, seed=0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownStrategyError, match="known strategies: random"):
        get_strategy("clairvoyance")


@pytest.mark.parametrize("name", [n for n in strategy_names() if get_strategy(n).needs])
def test_missing_input_is_named(name):
    strategy = get_strategy(name)
    with pytest.raises(ValueError, match=f"needs '{sorted(strategy.needs)[0]}'"):
        strategy.query(PoolView(labeled=some_labeled()), 3)


# -- pool order never decides --------------------------------------------------------------
# Collections are ingested in path order, usually one folder per class: a strategy that breaks
# ties (or near-ties) by pool position serves the first folders first. On pools whose order is
# random, the picks' mean position must then be the chance value 0.5 (sd about 0.007 here).
ORDER_POOL, ORDER_PICKS, ORDER_DIM, ORDER_SEEDS, ORDER_CLASSES = 1500, 100, 16, 20, 4


def _layout(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return rng.uniform(size=(ORDER_POOL, ORDER_DIM))
    if kind == "clustered":  # ten overlapping clusters
        centres = rng.normal(size=(10, ORDER_DIM))
        return centres[rng.integers(0, 10, ORDER_POOL)] + rng.normal(scale=0.6, size=(ORDER_POOL, ORDER_DIM))
    distinct = rng.normal(size=(ORDER_POOL // 5, ORDER_DIM))  # each point five times, shuffled
    return distinct[rng.permutation(np.repeat(np.arange(ORDER_POOL // 5), 5))]


def _order_view(kind: str, seed: int) -> PoolView:
    rng = np.random.default_rng(seed)
    X = _layout(kind, rng).astype(np.float32)
    W = rng.normal(size=(M, ORDER_DIM, ORDER_CLASSES))
    logits = np.einsum("nd,mdk->mnk", X - X.mean(axis=0), W)
    samples = np.exp(logits - logits.max(axis=2, keepdims=True))
    samples /= samples.sum(axis=2, keepdims=True)
    labeled = np.zeros(ORDER_POOL, dtype=bool)
    labeled[rng.choice(ORDER_POOL, 20, replace=False)] = True
    labels = np.where(labeled, samples.mean(axis=0).argmax(axis=1), -1)
    return PoolView(labeled=labeled, probs=samples.mean(axis=0), samples=samples, embeddings=X, labels=labels,
                    n_classes=ORDER_CLASSES)  # fmt: skip


@pytest.mark.parametrize("kind", ["uniform", "clustered", "duplicates"])
def test_pool_order_does_not_decide_what_is_picked(strategy, kind):
    positions = [
        strategy.query(_order_view(kind, seed), ORDER_PICKS, seed=seed) / ORDER_POOL for seed in range(ORDER_SEEDS)
    ]
    mean = float(np.concatenate(positions).mean())
    assert abs(mean - 0.5) <= 0.03, f"{strategy.name} on a {kind} pool: picks' mean position {mean:.3f}"
