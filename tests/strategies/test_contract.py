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


def test_query_never_returns_excluded_items(strategy):
    labeled = some_labeled()
    excluded = np.zeros(N, dtype=bool)
    excluded[::2] = True
    base = make_view(labeled)
    view = PoolView(base.labeled, base.probs, base.samples, base.embeddings, base.labels, excluded)
    picked = strategy.query(view, 12, seed=0)
    assert not excluded[picked].any() and not labeled[picked].any()


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownStrategyError, match="known strategies: random"):
        get_strategy("clairvoyance")


@pytest.mark.parametrize("name", [n for n in strategy_names() if get_strategy(n).needs])
def test_missing_input_is_named(name):
    strategy = get_strategy(name)
    with pytest.raises(ValueError, match=f"needs '{sorted(strategy.needs)[0]}'"):
        strategy.query(PoolView(labeled=some_labeled()), 3)
