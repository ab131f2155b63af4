"""Properties every strategy keeps over many pool shapes, and the batch controls (``explore``,
``candidates``) through the public :meth:`Strategy.query`: a wrong algorithm must fail here even
when it still returns arrays of the right shape."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import PoolView, get_strategy, select_top, strategy_names, top_k, uncertainty
from labelwise.strategies.registry import Strategy, register

SHAPES = [(4, 120), (7, 90), (13, 200), (20, 150)]  # (classes, pool size)
SCORING = [n for n in strategy_names() if get_strategy(n).score is not None]
SETS = [n for n in strategy_names() if get_strategy(n).select is not None]


def shaped_view(k: int, n: int, seed: int, duplicates: bool = False, labeled: int = 15) -> PoolView:
    """A pool of ``n`` items and ``k`` classes; with ``duplicates``, every item appears three times."""
    rng = np.random.default_rng(seed)
    distinct = n // 3 if duplicates else n
    X = rng.normal(size=(distinct, 6))
    logits = rng.normal(size=(5, distinct, k)) * 2
    if duplicates:
        rows = rng.permutation(np.repeat(np.arange(distinct), 3))[:n]
        X, logits = X[rows], logits[:, rows]
    samples = np.exp(logits - logits.max(axis=2, keepdims=True))
    samples /= samples.sum(axis=2, keepdims=True)
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[rng.choice(X.shape[0], labeled, replace=False)] = True
    labels = np.where(mask, rng.integers(0, k, X.shape[0]), -1)
    return PoolView(labeled=mask, probs=samples.mean(axis=0), samples=samples, embeddings=X.astype(np.float32),
                    labels=labels, n_classes=k)  # fmt: skip


@pytest.mark.parametrize("name", strategy_names())
@pytest.mark.parametrize(("k", "n"), SHAPES)
@pytest.mark.parametrize(("explore", "candidates"), [(0.0, None), (0.3, None), (0.0, 40), (0.5, 25)])
def test_exactly_n_distinct_selectable_items_reproducibly(name, k, n, explore, candidates):
    strategy = get_strategy(name)
    view = shaped_view(k, n, seed=k, duplicates=k % 2 == 1)
    for batch in (1, 10, 24):
        picked = strategy.query(view, batch, seed=5, explore=explore, candidates=candidates)
        assert picked.shape == (batch,) and len(set(picked.tolist())) == batch, (batch, picked)
        assert view.selectable[picked].all()
        np.testing.assert_array_equal(picked, strategy.query(view, batch, seed=5, explore=explore,
                                                             candidates=candidates))  # fmt: skip


@pytest.mark.parametrize("name", strategy_names())
def test_the_seed_decides_the_batch(name):
    strategy = get_strategy(name)
    view = shaped_view(5, 300, seed=3)
    batches = {tuple(strategy.query(view, 10, seed=s, explore=0.3, candidates=150).tolist()) for s in range(4)}
    assert len(batches) > 1  # the random share and the candidate subset both follow the seed


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("explore", [0.1, 0.3, 0.5, 1.0])
def test_set_strategies_keep_the_batch_size_with_explorers(name, explore):
    view = shaped_view(6, 150, seed=4)
    picked = get_strategy(name).query(view, 10, seed=0, explore=explore)
    assert picked.shape == (10,) and len(set(picked.tolist())) == 10


@pytest.mark.parametrize("name", [n for n in SCORING if n != "random"])
def test_scoring_strategies_explore_the_share_asked(name):
    strategy = get_strategy(name)
    view = shaped_view(4, 400, seed=6)
    scores = strategy.score(view, 0)
    ranked = np.argsort(-np.where(view.selectable, scores, -np.inf), kind="stable")
    picked = strategy.query(view, 20, seed=0, explore=0.5)
    np.testing.assert_array_equal(np.sort(picked[:10]), np.sort(ranked[:10]))  # the best ten first
    assert not np.isin(picked[10:], ranked[:20]).all()  # then ten from anywhere else
    assert not np.isin(picked[10:], picked[:10]).any()
    np.testing.assert_array_equal(np.sort(strategy.query(view, 20, seed=0)), np.sort(ranked[:20]))


@pytest.mark.parametrize("name", [n for n in strategy_names() if n != "random"])  # random ranks nothing
def test_candidates_restrict_what_is_ranked(name):
    """With ``candidates=c`` the exploit share is drawn from a random subset of c items, so over
    many seeds the batches touch far fewer of the globally best items than without it."""
    strategy = get_strategy(name)
    view = shaped_view(4, 600, seed=7, labeled=30)
    full = {tuple(np.sort(strategy.query(view, 8, seed=s)).tolist()) for s in range(3)}
    subset = [strategy.query(view, 8, seed=s, candidates=20) for s in range(3)]
    assert all(tuple(np.sort(p).tolist()) not in full for p in subset), name


def test_candidates_of_scoring_strategies_are_all_selectable_and_distinct():
    view = shaped_view(4, 60, seed=8)
    for s in range(20):
        picked = get_strategy("margin").query(view, 40, seed=s, candidates=44)
        assert len(set(picked.tolist())) == 40 and view.selectable[picked].all()


@pytest.mark.parametrize("k", [3, 4, 5, 8, 13, 20])
def test_margin_is_the_gap_between_the_two_most_likely_classes(k):
    probs = np.random.default_rng(k).dirichlet(np.ones(k) * 0.7, size=500)
    top = np.sort(probs, axis=1)
    np.testing.assert_allclose(uncertainty.margin(probs), 1 - (top[:, -1] - top[:, -2]), atol=1e-12)
    np.testing.assert_allclose(uncertainty.least_confidence(probs), 1 - top[:, -1], atol=1e-12)
    np.testing.assert_allclose(uncertainty.entropy(probs), -(probs * np.log(probs)).sum(axis=1), atol=1e-9)


@pytest.mark.parametrize("k", [4, 9, 20])
def test_committee_scores_against_their_formulas(k):
    samples = np.random.default_rng(k).dirichlet(np.ones(k), size=(4, 50))
    mean = samples.mean(axis=0)
    np.testing.assert_allclose(uncertainty.variance(samples), samples.var(axis=0).mean(axis=1), atol=1e-12)
    expected = -(mean * np.log(mean)).sum(1) + (samples * np.log(samples)).sum(2).mean(0)
    np.testing.assert_allclose(uncertainty.bald(samples), expected, atol=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_top_k_returns_exactly_k_with_ties_at_the_cut(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=50).astype(float)  # many ties everywhere
    for k in (1, 5, 17, 49, 50, 60):
        picked = top_k(scores, k, rng)
        assert picked.size == min(k, 50) and len(set(picked.tolist())) == picked.size
        assert np.all(np.diff(scores[picked]) <= 0)  # descending
        assert scores[picked].min() >= np.sort(scores)[::-1][min(k, 50) - 1]  # the k best values
    assert top_k(scores, 0, rng).size == 0


def test_select_top_explorers_are_distinct_and_reproducible():
    for s in range(20):
        picked = select_top(np.zeros(30), 25, explore=1.0, seed=s)
        assert len(set(picked.tolist())) == 25
        np.testing.assert_array_equal(picked, select_top(np.zeros(30), 25, explore=1.0, seed=s))
    assert select_top(np.arange(5.0), 3, seed=None).tolist() == [4, 3, 2]


def test_strategy_definitions_are_checked():
    with pytest.raises(ValueError, match="exactly one of score and select"):
        Strategy("both", "x", score=lambda v, s: np.zeros(v.size), select=lambda v, n, r, c: c[:n])
    with pytest.raises(ValueError, match="exactly one of score and select"):
        Strategy("none", "x")
    with pytest.raises(ValueError, match=r"unknown inputs \['logits'\]"):
        Strategy("odd", "x", frozenset({"logits"}), score=lambda v, s: np.zeros(v.size))
    with pytest.raises(ValueError, match="'margin' is already registered"):
        register(Strategy("margin", "again", score=lambda v, s: np.zeros(v.size)))
    assert get_strategy("margin").label(shaped_view(4, 30, 0)) == "margin"
    assert get_strategy("auto").label(shaped_view(4, 30, 0, labeled=5)) == "auto: typiclust"  # 5 of 30: uncovered
    assert get_strategy("auto").label(shaped_view(4, 30, 0)) == "auto: cluster-margin"  # 15 of 30 cover a majority


def test_boundary_checks_name_the_array_and_the_problem():
    from labelwise.strategies.validation import check_probs, check_samples

    with pytest.raises(ValueError, match=r"^samples: expected shape \(m, n, k\), got 2 dimension\(s\) \(3, 2\)$"):
        check_samples(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"^samples: needs at least one member \(m >= 1\)$"):
        check_samples(np.empty((0, 2, 2)))
    with pytest.raises(ValueError, match=r"^committee: contains NaN or inf$"):
        check_samples(np.full((1, 1, 2), np.inf), name="committee")
    with pytest.raises(ValueError, match=r"^p: rows must sum to 1 within 0.0001; row \(1,\) sums to 0.900000$"):
        check_probs(np.array([[0.5, 0.5], [0.5, 0.4]]), name="p")
    with pytest.raises(ValueError, match=r"^samples: rows must sum to 1 within 0.0001; row \(0, 1\) sums to 1.200000$"):
        check_samples(np.array([[[0.5, 0.5], [0.6, 0.6]]]))
    with pytest.raises(ValueError, match=r"^probs: expected numbers, got dtype <U1$"):
        check_probs(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"^samples: contains negative probabilities$"):
        check_samples(np.array([[[1.5, -0.5]]]))
    with pytest.raises(ValueError, match=r"^samples: needs at least 2 classes, got k=1$"):
        check_samples(np.ones((1, 3, 1)))
    ints = check_samples(np.array([[[1, 0], [0, 1]]]))
    assert ints.dtype == np.float64 and ints.shape == (1, 2, 2)
    assert check_probs(np.array([[0, 1]])).dtype == np.float64
    assert check_probs(np.array([[0.99995, 0.0]]), name="p").shape == (1, 2)  # within the tolerance
    assert check_samples(np.empty((2, 0, 3))).shape == (2, 0, 3)  # an empty pool is not an error here


def test_entropy_of_float32_probabilities_with_zeros_is_finite():
    probs = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(uncertainty.entropy(probs), [0.0, np.log(2)], rtol=1e-6)
    samples = np.stack([probs, probs[::-1]])
    assert np.isfinite(uncertainty.bald(samples)).all()


def test_non_numeric_samples_are_named():
    from labelwise.strategies.validation import check_samples

    with pytest.raises(ValueError, match=r"^samples: expected numbers"):
        check_samples(np.array([[["a", "b"]]]))


def test_a_registered_strategy_is_found_by_name():
    from labelwise.strategies import registry

    mine = Strategy("test-constant", "scores every item 1", score=lambda view, seed: np.ones(view.size))
    try:
        assert register(mine) is mine and get_strategy("test-constant") is mine
        assert "test-constant" in strategy_names()
    finally:
        registry._REGISTRY.pop("test-constant", None)


def test_an_unknown_name_is_named_in_the_error():
    from labelwise.errors import UnknownStrategyError

    with pytest.raises(UnknownStrategyError, match="clairvoyance") as caught:
        get_strategy("clairvoyance")
    assert caught.value.name == "clairvoyance" and caught.value.known == strategy_names()


@pytest.mark.parametrize("name", strategy_names())
def test_fewer_candidates_than_the_batch_still_give_n_distinct_items(name):
    # The set strategies are then asked for more than they are given: they must return each
    # candidate at most once (from 0 labels too, where k-center has already taken its first item),
    # and the explorers fill the rest of the batch.
    strategy = get_strategy(name)
    for labeled in (0, 15):
        view = shaped_view(5, 80, seed=9, labeled=labeled)
        for seed in range(3):
            picked = strategy.query(view, 12, seed=seed, candidates=5)
            assert picked.shape == (12,) and len(set(picked.tolist())) == 12, (labeled, picked)
            assert view.selectable[picked].all()


def test_bad_batch_controls_and_scores_are_named_exactly():
    view = shaped_view(4, 30, seed=1)
    with pytest.raises(ValueError, match=r"^n: must be >= 0, got -1$"):
        get_strategy("kcenter").query(view, -1)
    with pytest.raises(ValueError, match=r"^n: must be >= 0, got -2$"):
        uncertainty.random_scores(-2)
    with pytest.raises(ValueError, match=r"^scores: contains NaN or inf$"):
        get_strategy("margin").rank(view, 3, scores=np.full(30, np.nan))
