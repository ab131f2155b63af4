"""Confident learning: exact values on a hand-made case, and injected label errors found on real-ish data."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.learn.confident_learning import (
    out_of_fold_probabilities,
    rank_label_issues,
    select_out_of_fold_probabilities,
)
from labelwise.learn.heads import default_estimator


def test_thresholds_flags_and_order_by_hand():
    # Class 0's labels average p0 = (0.9 + 0.8 + 0.1) / 3 = 0.6; class 1's p1 = (0.7 + 0.45 + 0.9) / 3 = 0.683.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7], [0.55, 0.45], [0.1, 0.9]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    issues = rank_label_issues(probs, labels)
    assert issues.thresholds == pytest.approx([(0.9 + 0.8 + 0.1) / 3, (0.7 + 0.45 + 0.9) / 3])
    # Row 2 (labeled 0, p1 = 0.9 >= t1) is off-diagonal; row 4 (labeled 1, p0 = 0.55 < t0 = 0.6) is
    # not confidently another class (suggested: its likeliest, 0, but not flagged), and row 3
    # (p1 = 0.7 >= t1 = 0.683) is confidently its own class.
    assert issues.flagged.tolist() == [False, False, True, False, False, False]
    assert issues.suggested.tolist() == [0, 0, 1, 1, 0, 1]
    assert issues.given_p == pytest.approx([0.9, 0.8, 0.1, 0.7, 0.45, 0.9])
    # Flagged first, then by ascending self-confidence; ties keep row order.
    assert issues.order.tolist() == [2, 4, 3, 1, 0, 5]


def test_a_class_nobody_labeled_is_never_suggested():
    probs = np.array([[0.2, 0.1, 0.7], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    issues = rank_label_issues(probs, np.array([0, 0, 1, 1]))
    assert np.isinf(issues.thresholds[2]) and 2 not in issues.suggested.tolist()


def test_bad_input_is_refused_with_the_field_named():
    with pytest.raises(ValueError, match="NaN"):
        rank_label_issues(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="probs"):
        rank_label_issues(np.ones((3, 2)), np.array([0, 1]))
    X = np.arange(12, dtype=float).reshape(6, 2)
    with pytest.raises(ValueError, match="at least 2 labels"):
        out_of_fold_probabilities(X, np.array([0, 0, 0, 0, 0, 1]), 2)
    with pytest.raises(ValueError, match="class positions"):
        out_of_fold_probabilities(X, np.array([0, 0, 0, 1, 1, 2]), 2)


def blobs(seed: int, n: int = 600, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``k`` overlapping Gaussian clouds in 8-D."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(k, 8))
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(size=(n, 8)), y


def test_out_of_fold_probabilities_never_see_the_row_they_score():
    X, y = blobs(0, n=200)
    probs = out_of_fold_probabilities(X, y, 5)  # class 4 has no label: its column stays 0
    assert probs.shape == (200, 5) and np.allclose(probs.sum(axis=1), 1) and not probs[:, 4].any()
    # A point copied ten times with one label, then once more with another: in-sample the odd label
    # would be fit; out of fold it is scored by a model trained on the others.
    X2 = np.vstack([X, np.repeat(X[:1], 11, axis=0)])
    y2 = np.concatenate([y, np.full(10, y[0]), [(y[0] + 1) % 4]])
    odd = out_of_fold_probabilities(X2, y2, 4)[-1]
    assert odd[y2[-1]] < 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_injected_label_errors_come_first(seed):
    X, y = blobs(seed)
    rng = np.random.default_rng(100 + seed)
    wrong = rng.choice(y.size, 30, replace=False)
    noisy = y.copy()
    noisy[wrong] = (y[wrong] + rng.integers(1, 4, wrong.size)) % 4
    issues = rank_label_issues(select_out_of_fold_probabilities(X, noisy, 4, random_state=seed)[0], noisy)
    found = np.isin(issues.order[:30], wrong).mean()
    # A random order finds 5% of them; the flagged rows are mostly the injected ones.
    assert found >= 0.7, found
    assert np.isin(np.flatnonzero(issues.flagged), wrong).mean() >= 0.5


def test_the_regularization_with_the_lowest_out_of_fold_log_loss_is_kept():
    X, y = blobs(3, n=300)
    losses = {}
    for C in (1.0, 1e-5):
        probs = out_of_fold_probabilities(X, y, 4, estimator=default_estimator(C=C))
        losses[C] = -np.log(probs[np.arange(y.size), y]).mean()
    # C=1e-5 shrinks every weight to ~0: near-uniform probabilities, log-loss ~ log 4.
    assert losses[1e-5] == pytest.approx(np.log(4), abs=0.05) and losses[1.0] < 1.0
    for Cs in ((1.0, 1e-5), (1e-5, 1.0)):
        probs, C = select_out_of_fold_probabilities(X, y, 4, Cs=Cs)
        assert C == 1.0
        assert probs == pytest.approx(out_of_fold_probabilities(X, y, 4, estimator=default_estimator(C=1.0)))
