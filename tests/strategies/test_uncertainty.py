"""Exact values against hand-computed numbers, invalid input, and properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelwise.strategies import bald, entropy, least_confidence, margin, random_scores, variance

PROBS = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_least_confidence_values():
    np.testing.assert_allclose(least_confidence(PROBS), [0.3, 2 / 3, 0.0, 0.5])


def test_margin_values():
    np.testing.assert_allclose(margin(PROBS), [1 - 0.5, 1.0, 0.0, 1.0])


def test_entropy_values_with_zero_log_zero():
    expected = [
        -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)),  # 0.8018...
        np.log(3),
        0.0,
        np.log(2),
    ]
    np.testing.assert_allclose(entropy(PROBS), expected)
    assert entropy(PROBS)[0] == pytest.approx(0.80182, abs=1e-5)


def test_variance_and_bald_values_for_two_members():
    # Item 0: members say [1, 0] and [0, 1]. Item 1: both say [0.5, 0.5].
    samples = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])
    # variance per class across members: 0.25 for item 0, 0 for item 1.
    np.testing.assert_allclose(variance(samples), [0.25, 0.0])
    # BALD item 0: H([.5,.5]) - mean(H([1,0]), H([0,1])) = ln 2 - 0; item 1: ln 2 - ln 2 = 0.
    np.testing.assert_allclose(bald(samples), [np.log(2), 0.0], atol=1e-12)


def test_random_scores_reproducible_and_seed_dependent():
    np.testing.assert_array_equal(random_scores(50, seed=4), random_scores(50, seed=4))
    assert not np.array_equal(random_scores(50, seed=4), random_scores(50, seed=5))
    assert random_scores(0).shape == (0,)


@pytest.mark.parametrize("fn", [least_confidence, margin, entropy])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.array([0.5, 0.5]), "shape \\(n, k\\)"),
        (np.array([[0.5, np.nan]]), "NaN or inf"),
        (np.array([[1.5, -0.5]]), "negative"),
        (np.array([[0.5, 0.4]]), "sum to 1"),
        (np.array([[1.0]]), "at least 2 classes"),
    ],
)
def test_invalid_probs_raise_value_error_saying_which(fn, bad, message):
    with pytest.raises(ValueError, match=message):
        fn(bad)


@pytest.mark.parametrize("fn", [variance, bald])
def test_invalid_samples_raise(fn):
    with pytest.raises(ValueError, match="shape \\(m, n, k\\)"):
        fn(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="sum to 1"):
        fn(np.full((2, 3, 2), 0.3))


def probability_rows(k_min: int = 2, k_max: int = 6):
    def build(draw_shape):
        n, k = draw_shape
        return arrays(np.float64, (n, k), elements=st.floats(0.01, 1.0)).map(lambda a: a / a.sum(1, keepdims=True))

    return st.tuples(st.integers(1, 20), st.integers(k_min, k_max)).flatmap(build)


@settings(max_examples=60, deadline=None)
@given(probability_rows(2, 2))
def test_margin_and_least_confidence_rank_identically_for_two_classes(probs):
    # For k = 2: margin = 1 - |2 p_max - 1| = 2 (1 - p_max) = 2 * least confidence.
    np.testing.assert_allclose(margin(probs), 2 * least_confidence(probs), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(probability_rows())
def test_entropy_is_largest_at_the_uniform_distribution(probs):
    k = probs.shape[1]
    assert (entropy(probs) <= np.log(k) + 1e-12).all()
    assert entropy(np.full((1, k), 1 / k))[0] == pytest.approx(np.log(k))


@settings(max_examples=60, deadline=None)
@given(probability_rows(), st.integers(1, 6))
def test_variance_and_bald_vanish_when_members_agree(probs, m):
    samples = np.repeat(probs[None], m, axis=0)
    np.testing.assert_allclose(variance(samples), 0.0, atol=1e-12)
    np.testing.assert_allclose(bald(samples), 0.0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(probability_rows())
def test_scores_are_bounded(probs):
    k = probs.shape[1]
    assert ((least_confidence(probs) >= 0) & (least_confidence(probs) <= 1 - 1 / k + 1e-12)).all()
    assert ((margin(probs) >= 0) & (margin(probs) <= 1 + 1e-12)).all()
