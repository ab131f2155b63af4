"""Multi-label strategies: shapes, exact values, p near 0.5 scores higher, determinism, kinds kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import PoolView, get_strategy, strategy_names
from labelwise.strategies.multilabel import (
    DEFAULT_MULTILABEL_STRATEGY,
    get_multilabel_strategy,
    max_binary_uncertainty,
    mean_binary_entropy,
    multilabel_strategy_names,
)
from labelwise.strategies.registry import StrategyKindError

SCORES = [mean_binary_entropy, max_binary_uncertainty]


def pool(n: int = 200, k: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, k))


def test_the_registry_holds_random_the_aggregations_and_the_literatures_strategies():
    assert multilabel_strategy_names() == ["random", "mean-binary-entropy", "max-binary-uncertainty", "max-margin",
                                           "max-margin-cardinality", "mmc", "cluster-max-uncertainty",
                                           "binary-badge"]  # fmt: skip


@pytest.mark.parametrize("score", SCORES)
def test_one_score_in_0_1_per_item(score):
    scores = score(pool())
    assert scores.shape == (200,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_exact_values():
    probs = np.array([[0.5, 0.0], [0.9, 1.0], [0.25, 0.75]])
    h = -(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75))
    np.testing.assert_allclose(mean_binary_entropy(probs), [0.5, -(0.9 * np.log2(0.9) + 0.1 * np.log2(0.1)) / 2, h])
    np.testing.assert_allclose(max_binary_uncertainty(probs), [1.0, 0.2, 0.5])


@pytest.mark.parametrize("score", SCORES)
def test_a_probability_nearer_0_5_scores_higher(score):
    # One class moves toward 0.5 from either side, the others stay put and certain: the score must rise.
    for side in (np.linspace(0.01, 0.49, 25), np.linspace(0.99, 0.51, 25)):
        probs = np.tile([0.5, 0.999, 0.001], (side.size, 1)).astype(float)
        probs[:, 0] = side
        assert np.all(np.diff(score(probs)) > 0)


def test_mean_and_max_disagree_where_they_should():
    # One class at 0.5 and the rest certain, against every class mildly uncertain.
    probs = np.array([[0.5, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2]])
    assert mean_binary_entropy(probs).argmax() == 1
    assert max_binary_uncertainty(probs).argmax() == 0


@pytest.mark.parametrize("name", ["random", "mean-binary-entropy", "max-binary-uncertainty"])
def test_query_takes_distinct_unlabeled_items_deterministically(name):
    probs = pool()
    labeled = np.zeros(200, dtype=bool)
    labeled[::3] = True
    strategy = get_multilabel_strategy(name)
    picks = strategy.query(probs, labeled, 30, seed=4)
    assert picks.size == 30 and np.unique(picks).size == 30 and not labeled[picks].any()
    np.testing.assert_array_equal(picks, strategy.query(probs, labeled, 30, seed=4))
    selection = strategy.rank(probs, labeled, 30, seed=4)
    assert np.all(np.diff(selection.scores[selection.indices]) <= 0)  # most informative first


def test_random_depends_on_the_seed_and_the_others_on_the_probabilities_only():
    probs, labeled = pool(), np.zeros(200, dtype=bool)
    rnd = get_multilabel_strategy("random")
    assert not np.array_equal(rnd.query(probs, labeled, 20, seed=1), rnd.query(probs, labeled, 20, seed=2))
    top = get_multilabel_strategy("max-binary-uncertainty")
    np.testing.assert_array_equal(top.query(probs, labeled, 20, seed=1), top.query(probs, labeled, 20, seed=2))
    assert set(top.query(probs, labeled, 20)) == set(np.argsort(-max_binary_uncertainty(probs))[:20])


def test_a_single_label_strategy_is_refused_on_multi_label_data_and_vice_versa():
    with pytest.raises(StrategyKindError, match=r"'margin' is a single-label strategy.*multi-label data needs one of"):
        get_multilabel_strategy("margin")
    with pytest.raises(StrategyKindError, match="'max-binary-uncertainty' is a multi-label strategy"):
        get_strategy("max-binary-uncertainty")
    assert "mean-binary-entropy" not in strategy_names()
    with pytest.raises(StrategyKindError, match="unknown multi-label strategy 'nope'"):
        get_multilabel_strategy("nope")


def test_single_label_formulas_refuse_independent_probabilities():
    # Rows of independent probabilities do not sum to 1: the single-label checks must say so.
    with pytest.raises(ValueError, match="rows must sum to 1"):
        get_strategy("margin").query(PoolView(np.zeros(3, bool), probs=pool(3)), 1)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.array([0.5, 0.5]), r"expected shape \(n, K\)"),
        (np.array([[0.5, 1.2]]), r"must lie in \[0, 1\]"),
        (np.array([[0.5, np.nan]]), "NaN or inf"),
        (np.array([["a", "b"]]), "expected numbers"),
    ],
)
@pytest.mark.parametrize("score", SCORES)
def test_bad_probabilities_are_refused(score, probs, message):
    with pytest.raises(ValueError, match=f"probs: .*{message}"):
        score(probs)


def test_labeled_mask_must_match_the_pool():
    with pytest.raises(ValueError, match=r"labeled: expected shape \(200,\)"):
        get_multilabel_strategy("random").query(pool(), np.zeros(10, bool), 3)


def test_the_default_needs_the_probabilities_only():
    default = get_multilabel_strategy(DEFAULT_MULTILABEL_STRATEGY)
    assert default.name == "max-margin" and not default.needs
