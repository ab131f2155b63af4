"""Exact cosine nearest neighbours over a candidate subset."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies.neighbours import near_duplicate_groups, nearest_by_cosine, unit_rows


def test_nearest_by_cosine_orders_candidates_by_angle_not_length():
    X = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    rows, sims = nearest_by_cosine(X, np.array([2.0, 0.0]), np.array([1, 2, 3, 4]), k=3)
    assert rows.tolist() == [1, 3, 2]  # row 0 is not a candidate; length does not matter
    assert sims == pytest.approx([10 / np.sqrt(101), 1 / np.sqrt(2), 0.0], abs=1e-6)


def test_nearest_by_cosine_matches_brute_force_and_breaks_ties_by_index():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 16)).astype(np.float32)
    X[7] = X[3] * 2  # same direction as row 3: a tie, broken by the lower index
    candidates = np.arange(1, 500)
    rows, sims = nearest_by_cosine(X, X[3], candidates, k=48)
    brute = unit_rows(X[candidates]) @ unit_rows(X[3:4])[0]
    expected = candidates[np.argsort(-brute, kind="stable")[:48]]
    assert rows.tolist() == expected.tolist() and rows[:2].tolist() == [3, 7]
    assert np.all(np.diff(sims) <= 1e-6)
    assert nearest_by_cosine(X, X[0], np.array([], dtype=np.int64), 5)[0].size == 0
    assert nearest_by_cosine(X, X[0], candidates[:3], 10)[0].size == 3  # fewer candidates than k


def test_near_duplicate_groups_link_chains_and_leave_singletons_out():
    X = np.array([[1.0, 0.0], [0.99, 0.14], [0.96, 0.28], [0.0, 1.0], [0.0, 2.0], [-1.0, 0.0]])
    # 0~1 and 1~2 are near (cos ~0.99) though 0~2 is a little less: one chain; 3~4 same direction.
    groups = near_duplicate_groups(X, 0.985)
    assert groups.tolist() == [0, 0, 0, 1, 1, -1]
    assert near_duplicate_groups(X, 1.0).tolist() == [-1, -1, -1, 0, 0, -1]
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_groups(X, 0.0)
