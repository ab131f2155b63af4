"""Exact values of the multi-label scores from the literature (max-margin, cardinality, MMC) and what sets
them apart from the simple aggregations."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies.multilabel_scores import (
    cardinality_inconsistency,
    max_binary_uncertainty,
    max_margin_cardinality,
    max_margin_uncertainty,
    mmc_scores,
    predicted_cardinality,
    separation_margin,
)


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_separation_margin_is_the_gap_between_the_least_sure_on_and_off_classes():
    probs = np.array([[0.8, 0.3, 0.1], [0.2, 0.1, 0.05], [0.9, 0.6, 0.7]])
    # Row 1 has no class on and row 2 none off: the empty side stands at the threshold, logit 0.
    expected = [logit(0.8) - logit(0.3), -logit(0.2), logit(0.6)]
    np.testing.assert_allclose(separation_margin(probs), expected)
    np.testing.assert_allclose(max_margin_uncertainty(probs), 1 / (1 + np.array(expected)))


def test_max_margin_prefers_two_classes_in_doubt_to_one_class_near_the_threshold():
    # Row 0: is it class 0 or class 1? Row 1: one class barely on, every other surely off.
    probs = np.array([[0.6, 0.4, 0.01], [0.55, 0.01, 0.01]])
    assert max_margin_uncertainty(probs).argmax() == 0
    assert max_binary_uncertainty(probs).argmax() == 1


def test_cardinality_inconsistency_against_the_labeled_mean():
    labels = np.array([[1, 0, 0], [1, 1, 0]])  # 1.5 classes per labeled image
    probs = np.array([[0.1, 0.2, 0.3], [0.9, 0.2, 0.3], [0.9, 0.8, 0.3], [0.9, 0.8, 0.7]])
    np.testing.assert_allclose(cardinality_inconsistency(probs, labels), [1.5, 0.5, 0.5, 1.5])
    u = 1 / separation_margin(probs)
    np.testing.assert_allclose(max_margin_cardinality(probs, labels), np.sqrt(u * [1.5, 0.5, 0.5, 1.5]))


def test_mmc_counts_the_expected_wrong_classes_at_the_predicted_cardinality():
    # Every labeled image carries one class: the predicted label vector puts the most probable class on.
    labels = np.array([[1, 0, 0], [0, 1, 0]])
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(mmc_scores(probs, probs, labels), [(0.3 + 0.2 + 0.1) / 3, 1.5 / 3])


def test_mmc_learns_the_number_of_classes_from_the_sorted_probabilities():
    one, two = [0.9, 0.1, 0.05], [0.9, 0.85, 0.05]
    labeled_probs = np.array([one, two] * 10)
    labels = np.array([[1, 0, 0], [1, 1, 0]] * 10)
    probs = np.array([[0.05, 0.8, 0.1], [0.8, 0.05, 0.85]])
    np.testing.assert_array_equal(predicted_cardinality(probs, labeled_probs, labels), [1, 2])
    np.testing.assert_allclose(
        mmc_scores(probs, labeled_probs, labels), [(0.05 + 0.2 + 0.1) / 3, (0.2 + 0.05 + 0.15) / 3]
    )


@pytest.mark.parametrize("score", [cardinality_inconsistency, max_margin_cardinality])
def test_scores_that_read_labels_refuse_bad_ones(score):
    probs = np.array([[0.5, 0.5]])
    with pytest.raises(ValueError, match="labels: this score needs"):
        score(probs, None)
    with pytest.raises(ValueError, match=r"labels: expected shape \(m, 2\)"):
        score(probs, np.array([[1, 0, 0]]))
    with pytest.raises(ValueError, match="labels: entries must be 0 or 1"):
        score(probs, np.array([[2, 0]]))


def test_mmc_refuses_probabilities_that_do_not_match_the_labels():
    with pytest.raises(ValueError, match=r"labeled_probs: expected shape \(1, 2\)"):
        mmc_scores(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5], [0.1, 0.2]]), np.array([[1, 0]]))
