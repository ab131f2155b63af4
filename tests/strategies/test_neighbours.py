"""Exact cosine nearest neighbours over a candidate subset."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies.neighbours import (
    SEARCH_NPROBE,
    CosineIndex,
    near_duplicate_groups,
    nearest_by_cosine,
    similar_pairs,
    unit_rows,
)


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


def test_near_duplicate_groups_do_not_chain_and_leave_singletons_out():
    X = np.array([[1.0, 0.0], [0.99, 0.14], [0.96, 0.28], [0.0, 1.0], [0.0, 2.0], [-1.0, 0.0]])
    # 0~1 (cos 0.9902) and 1~2 (0.9899) are near but 0~2 (0.960) is not: single linkage would make one
    # chain of three; complete linkage keeps the closer pair and leaves row 2 alone. 3~4 same direction.
    groups = near_duplicate_groups(X, 0.985)
    assert groups.tolist() == [0, 0, -1, 1, 1, -1]
    assert near_duplicate_groups(X, 0.95).tolist() == [0, 0, 0, 1, 1, -1]  # 0~2 is close enough here
    assert near_duplicate_groups(X, 1.0).tolist() == [-1, -1, -1, 0, 0, -1]
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_groups(X, 0.0)


def planted_pool(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered vectors, the last quarter each a slightly disturbed copy of an earlier one."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d))
    base = centres[rng.integers(0, 20, n - n // 4)] + 0.8 * rng.normal(size=(n - n // 4, d))
    source = rng.integers(0, len(base), n // 4)
    copies = base[source] + 0.05 * rng.normal(size=(n // 4, d))
    return np.concatenate([base, copies]).astype(np.float32), source


def test_every_two_rows_of_a_group_are_near_and_ivf_finds_the_same_groups():
    X, _ = planted_pool(3000, 32, seed=0)
    exact = near_duplicate_groups(X, 0.97, exact=True)
    U = unit_rows(X)
    assert (exact >= 0).sum() > 1000  # the copies and their sources are grouped
    for g in np.unique(exact[exact >= 0]):
        rows = np.flatnonzero(exact == g)
        assert (U[rows] @ U[rows].T).min() >= 0.97 - 1e-6
    # The approximate index (used above EXACT_LIMIT rows) agrees on a pool it can be checked on.
    assert near_duplicate_groups(X, 0.97, exact=False).tolist() == exact.tolist()
    i, j, sims = similar_pairs(X, 0.97, exact=True)
    brute = np.triu(U @ U.T >= 0.97 - 1e-6, 1)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == sorted(zip(*np.nonzero(brute), strict=True))
    assert np.all(i < j) and np.all(sims >= 0.97 - 1e-6)


def test_the_index_returns_the_exact_neighbours_among_the_candidates_on_a_small_pool():
    # 10,000 rows in 100 tight clusters (as embeddings of a pool's look-alike pictures are): a query's
    # 48 nearest candidates are in its cluster, which the probed cells hold.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(100, 16))
    X = (centres[rng.integers(0, 100, 10_000)] + 0.15 * rng.normal(size=(10_000, 16))).astype(np.float32)
    index = CosineIndex(X)
    assert index._index.nlist == 256 and SEARCH_NPROBE < 256  # a real approximation: 64 of 256 cells probed
    for query in rng.choice(10_000, 30, replace=False):
        candidates = np.flatnonzero(rng.random(10_000) < 0.5)  # e.g. the unlabeled images
        candidates = candidates[candidates != query]
        assert index.search(unit_rows(X[query : query + 1])[0], candidates, 48) is not None  # no fallback
        rows, sims = nearest_by_cosine(X, X[query], candidates, 48, index)
        exact_rows, exact_sims = nearest_by_cosine(X, X[query], candidates, 48)
        assert rows.tolist() == exact_rows.tolist() and np.array_equal(sims, exact_sims)
    # New rows added to an index built without them are found like the others.
    grown = CosineIndex(X[:8000])
    grown.add(X[8000:])
    for query in (8100, 9999, 17):
        candidates = np.flatnonzero(np.arange(10_000) != query)
        assert grown.search(unit_rows(X[query : query + 1])[0], candidates, 48) is not None
        got = nearest_by_cosine(X, X[query], candidates, 48, grown)[0]
        assert got.tolist() == nearest_by_cosine(X, X[query], candidates, 48)[0].tolist()
        assert (got >= 8000).any()
    # Fewer candidates in the probed cells than asked for: the exact search answers instead.
    few = np.array([5, 10_000 - 1])
    assert nearest_by_cosine(X, X[0], few, 5, index)[0].tolist() == nearest_by_cosine(X, X[0], few, 5)[0].tolist()
