"""The contract every registered multi-label strategy passes (as tests/strategies/test_contract.py does for
single-label ones): shapes, distinct unlabeled picks, determinism with a seed, the pool exhausted batch by
batch, a clear error on an empty pool, doubtful items before certain ones, NaN and missing inputs refused."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.errors import EmptyPoolError
from labelwise.strategies.multilabel import get_multilabel_strategy, multilabel_strategy_names

N, K, D = 60, 4, 6


def inputs(labeled: np.ndarray, seed: int = 0) -> dict:
    """Random probabilities, embeddings, and a label matrix (one or two classes) for the labeled items."""
    rng = np.random.default_rng(seed)
    Y = np.zeros((N, K), dtype=np.int8)
    Y[np.arange(N), rng.integers(0, K, N)] = 1
    Y[np.arange(N), rng.integers(0, K, N)] = 1
    return {"probs": rng.random((N, K)), "embeddings": rng.normal(size=(N, D)), "labels": Y[labeled]}


def some_labeled(n_labeled: int = 10) -> np.ndarray:
    labeled = np.zeros(N, dtype=bool)
    labeled[np.random.default_rng(1).choice(N, n_labeled, replace=False)] = True
    return labeled


@pytest.fixture(params=multilabel_strategy_names())
def strategy(request):
    return get_multilabel_strategy(request.param)


def query(strategy, labeled: np.ndarray, n: int, seed: int = 0, **given) -> np.ndarray:
    args = inputs(labeled, seed) | given
    return strategy.query(args.pop("probs"), labeled, n, seed=seed, **args)


def test_query_returns_n_distinct_unlabeled_indices(strategy):
    labeled = some_labeled()
    picked = query(strategy, labeled, 7, seed=3)
    assert picked.shape == (7,) and np.issubdtype(picked.dtype, np.integer)
    assert len(set(picked.tolist())) == 7 and not labeled[picked].any()


def test_query_is_deterministic_for_a_seed(strategy):
    labeled = some_labeled()
    np.testing.assert_array_equal(query(strategy, labeled, 9, seed=11), query(strategy, labeled, 9, seed=11))


def test_query_takes_what_is_left_when_n_exceeds_the_pool(strategy):
    labeled = np.ones(N, dtype=bool)
    labeled[[3, 17, 42]] = False
    assert sorted(query(strategy, labeled, 10).tolist()) == [3, 17, 42]


def test_query_exhausts_the_pool_batch_by_batch(strategy):
    labeled, seen, seed = some_labeled(), [], 0
    while not labeled.all():
        picked = query(strategy, labeled, 8, seed=seed)
        assert picked.size == min(8, int((~labeled).sum()))
        seen.extend(picked.tolist())
        labeled[picked] = True
        seed += 1
    assert len(seen) == len(set(seen)) == N - 10


def test_query_on_an_empty_pool_raises_a_clear_error(strategy):
    with pytest.raises(EmptyPoolError, match="no unlabeled item"):
        query(strategy, np.ones(N, dtype=bool), 5)


def test_rank_returns_scores_of_every_item_or_none_for_a_batch_strategy(strategy):
    labeled = some_labeled()
    args = inputs(labeled)
    selection = strategy.rank(args.pop("probs"), labeled, 5, **args)
    if strategy.score is None:
        assert selection.scores is None
    else:
        assert selection.scores.shape == (N,) and np.isfinite(selection.scores).all()
        assert np.all(np.diff(selection.scores[selection.indices]) <= 0)  # most informative first


@pytest.mark.parametrize("name", [n for n in multilabel_strategy_names() if n != "random"])
def test_a_doubtful_item_comes_before_certain_ones(name):
    # Items 0..11 hesitate between two classes; the rest are sure of one class (the labeled items' number of
    # classes, so a cardinality-aware score sees no inconsistency there); every strategy but random must
    # start its batch with a doubtful item (12 of them: cluster-max-uncertainty draws from the top 10 n).
    rng = np.random.default_rng(0)
    probs = np.full((N, K), 0.001)
    probs[np.arange(N), rng.integers(0, K, N)] = 0.999
    hesitant = np.linspace(0.4, 0.6, 12)
    probs[:12, 0], probs[:12, 1] = hesitant, 1 - hesitant
    labeled = np.zeros(N, dtype=bool)
    labeled[50:] = True
    labels = (probs[labeled] >= 0.5).astype(np.int8)
    embeddings = rng.normal(size=(N, D))
    picked = get_multilabel_strategy(name).query(probs, labeled, 1, seed=0, embeddings=embeddings, labels=labels)
    assert picked[0] < 12


@pytest.mark.parametrize("field", ["probs", "embeddings"])
def test_nan_is_refused(strategy, field):
    labeled = some_labeled()
    args = inputs(labeled)
    args[field][4, 1] = np.nan
    with pytest.raises(ValueError, match=f"{field}: contains NaN"):
        strategy.query(args.pop("probs"), labeled, 3, **args)


def test_a_missing_input_is_named(strategy):
    labeled = some_labeled()
    probs = inputs(labeled)["probs"]
    if not strategy.needs:
        assert strategy.query(probs, labeled, 3).size == 3  # probabilities alone are enough
        return
    with pytest.raises(ValueError, match=f"{strategy.name!r} needs '{sorted(strategy.needs)[0]}'"):
        strategy.query(probs, labeled, 3)


def test_labels_must_match_the_labeled_items(strategy):
    labeled = some_labeled()
    args = inputs(labeled)
    with pytest.raises(ValueError, match="labels: 9 rows against 10 labeled items"):
        strategy.query(args["probs"], labeled, 3, embeddings=args["embeddings"], labels=args["labels"][:9])
