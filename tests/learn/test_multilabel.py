"""The multi-label head's contract: shapes, independent probabilities, fixed columns, cold start, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.learn.multilabel import MultiLabelHead, check_label_matrix

N, K, D = 300, 4, 6


def separable(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class k is on an image when feature k is positive: any subset of the K classes, also none."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    return X, (X[:, :K] > 0).astype(np.int8)


def test_probabilities_are_one_independent_column_per_class():
    X, Y = separable()
    head = MultiLabelHead(list(range(K))).fit(X, Y)
    proba = head.predict_proba(X[:50])
    assert proba.shape == (50, K)
    assert np.all((proba >= 0) & (proba <= 1))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent, not a softmax
    assert head.predict(X).shape == (N, K)
    assert (head.predict(X) == Y).mean() > 0.95  # each class is a half-space: every binary head finds it


def test_empty_rows_are_an_explicit_none_and_are_learned():
    X, Y = separable()
    none = Y.sum(axis=1) == 0
    assert none.any()
    head = MultiLabelHead(list(range(K))).fit(X, Y)
    assert (head.predict(X[none]).sum(axis=1) == 0).mean() > 0.8


def test_a_class_never_seen_positive_or_never_negative_gets_a_constant_laplace_probability():
    X, Y = separable()
    Y[:, 1] = 0  # no positive yet
    Y[:, 3] = 1  # no negative yet
    head = MultiLabelHead(list(range(K))).fit(X, Y)
    proba = head.predict_proba(X)
    assert np.allclose(proba[:, 1], 1 / (N + 2))
    assert np.allclose(proba[:, 3], (N + 1) / (N + 2))
    assert proba[:, 0].std() > 0.1  # the other columns stay learned
    assert head.predict(X)[:, 1].sum() == 0 and head.predict(X)[:, 3].all()


def test_cold_start_with_a_single_labeled_row_does_not_crash():
    X, Y = separable()
    proba = MultiLabelHead(list(range(K))).fit(X[:1], Y[:1]).predict_proba(X)
    assert proba.shape == (N, K)
    assert np.allclose(proba, np.where(Y[0] == 1, 2 / 3, 1 / 3))


def test_fitting_twice_gives_the_same_probabilities():
    X, Y = separable()
    first = MultiLabelHead(list(range(K))).fit(X, Y).predict_proba(X)
    again = MultiLabelHead(list(range(K))).fit(X.copy(), Y.copy()).predict_proba(X)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize(
    ("Y", "message"),
    [
        (np.zeros(N, dtype=int), r"Y: expected a label matrix of shape \(n, 4\)"),
        (np.zeros((N, K + 1), dtype=int), "Y: expected 4 class columns, got 5"),
        (np.full((N, K), 2), "Y: entries must be 0 or 1; row 0, column 0 holds 2"),
        (np.full((N, K), "a"), "Y: expected 0/1 numbers"),
    ],
)
def test_bad_label_matrices_are_refused_naming_the_field(Y, message):
    X, _ = separable()
    with pytest.raises(ValueError, match=message):
        MultiLabelHead(list(range(K))).fit(X, Y)


def test_rows_and_label_rows_must_agree():
    X, Y = separable()
    with pytest.raises(ValueError, match="X and Y: 300 rows against 299 label rows"):
        MultiLabelHead(list(range(K))).fit(X, Y[:-1])


def test_check_label_matrix_accepts_booleans():
    assert check_label_matrix(np.array([[True, False]]), 2).dtype == np.int8
