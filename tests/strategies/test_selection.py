from __future__ import annotations

import numpy as np
import pytest

from labelwise.errors import EmptyPoolError
from labelwise.strategies import PoolView, get_strategy, select_top, top_k
from labelwise.strategies.selection import Selection, random_argmax


def test_top_k_orders_by_descending_score():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    np.testing.assert_array_equal(top_k(scores, 3, np.random.default_rng(0)), [1, 3, 2])


def test_ties_are_broken_by_seed_deterministically():
    scores = np.zeros(100)
    a = top_k(scores, 10, np.random.default_rng(1))
    assert np.array_equal(a, top_k(scores, 10, np.random.default_rng(1)))
    assert not np.array_equal(a, top_k(scores, 10, np.random.default_rng(2)))
    assert len(set(a.tolist())) == 10


def test_ties_at_the_cut_keep_higher_scores_first():
    scores = np.array([1.0, 0.5, 0.5, 0.5, 0.0])
    picked = top_k(scores, 3, np.random.default_rng(0))
    assert picked[0] == 0 and set(picked[1:]) <= {1, 2, 3}


def test_select_top_skips_unselectable_items():
    scores = np.arange(10, dtype=float)
    selectable = np.ones(10, dtype=bool)
    selectable[[9, 8]] = False
    np.testing.assert_array_equal(select_top(scores, 3, selectable=selectable), [7, 6, 5])


def test_explore_fraction_draws_the_rest_at_random():
    scores = np.arange(1000, dtype=float)
    picked = select_top(scores, 10, explore=0.3, seed=0)
    np.testing.assert_array_equal(picked[:7], np.arange(999, 992, -1))
    assert len(set(picked.tolist())) == 10
    assert (picked[7:] < 993).all()  # explorers come from the rest of the pool


def test_candidates_rank_only_a_random_subset():
    scores = np.arange(10_000, dtype=float)
    picked = select_top(scores, 5, candidates=100, seed=0)
    # The best of 100 random candidates is almost never the global best.
    assert picked[0] != 9_999
    assert np.all(np.diff(scores[picked]) < 0)
    assert not np.array_equal(picked, select_top(scores, 5, candidates=100, seed=1))


def test_empty_pool_and_bad_arguments():
    with pytest.raises(EmptyPoolError):
        select_top(np.ones(3), 2, selectable=np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="explore"):
        select_top(np.ones(3), 2, explore=1.5)
    with pytest.raises(ValueError, match="candidates"):
        select_top(np.ones(3), 2, candidates=0)
    with pytest.raises(ValueError, match="NaN"):
        select_top(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match="selectable"):
        select_top(np.ones(3), 1, selectable=np.ones(4, dtype=bool))


def test_a_selection_holds_integer_indices_and_flags_its_explorers():
    plain = Selection([3, 1])
    assert isinstance(plain.indices, np.ndarray) and plain.indices.dtype == np.intp
    assert plain.explored.dtype == bool and plain.explored.tolist() == [False, False]
    mixed = Selection.of(np.array([5, 2]), np.array([9]))
    assert mixed.indices.tolist() == [5, 2, 9] and mixed.indices.dtype == np.intp
    assert mixed.explored.dtype == bool and mixed.explored.tolist() == [False, False, True]
    with pytest.raises(ValueError, match=r"explored: expected shape \(2,\), got \(3,\)"):
        Selection([3, 1], explored=[True, False, False])


def test_rank_explores_nothing_unless_asked_and_random_follows_its_seed():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=200)
    view = PoolView(labeled=np.zeros(200, bool), probs=probs, n_classes=4)
    picked = get_strategy("margin").rank(view, 10)
    assert not picked.explored.any()
    randomly = get_strategy("random")
    first = randomly.query(view, 10, seed=1)
    np.testing.assert_array_equal(first, randomly.query(view, 10, seed=1))
    assert not np.array_equal(first, randomly.query(view, 10, seed=2))


def test_random_argmax_draws_among_tied_maxima_and_only_among_them():
    values = np.array([1.0, 5.0, 2.0, 5.0, 5.0, 0.0])
    picks = {random_argmax(values, np.random.default_rng(seed)) for seed in range(40)}
    assert picks == {1, 3, 4}  # every tied maximum is drawn sometimes, nothing else ever
    assert random_argmax(np.array([3.0, 9.0, 1.0]), np.random.default_rng(0)) == 1


def test_badge_keeps_sampling_when_the_gradients_differ_only_a_little():
    rng = np.random.default_rng(0)
    probs = np.tile([0.5, 0.3, 0.2], (60, 1)) + rng.normal(0, 1e-3, (60, 3))
    probs /= probs.sum(axis=1, keepdims=True)
    view = PoolView(labeled=np.zeros(60, bool), probs=probs, embeddings=rng.normal(0, 0.01, (60, 4)).astype(np.float32))
    picked = get_strategy("badge").rank(view, 8, seed=0)
    # Tiny but distinct gradients: every pick is BADGE's own, none a random filler.
    assert len(set(picked.indices.tolist())) == 8 and not picked.explored.any()
