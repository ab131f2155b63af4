"""geometry.py across the boundaries the small strategy tests never reach: the mini-batch k-means
of big pools (forced here with a small ``fit_sample``) and the block loops past 4 * BLOCK rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from sklearn.cluster import MiniBatchKMeans

from labelwise.strategies.geometry import BLOCK, kmeans_labels, min_sq_distance


def blobs(per_blob: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four tight blobs far apart, so any correct k-means finds exactly them."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [100, 0], [0, 100], [100, 100]], dtype=np.float32)
    truth = np.repeat(np.arange(4), per_blob)
    return (centers[truth] + rng.normal(0, 1, (truth.size, 2))).astype(np.float32), truth


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("fit_sample", [20_000, 800, 120])  # full k-means; exactly n (still full); mini-batch
def test_kmeans_finds_the_blobs_whether_fitted_on_all_points_or_a_sample(fit_sample):
    X, truth = blobs(200)
    labels = kmeans_labels(X, 4, seed=3, fit_sample=fit_sample)
    assert labels.shape == (800,) and set(labels.tolist()) == {0, 1, 2, 3}
    assert same_partition(labels, truth)
    np.testing.assert_array_equal(labels, kmeans_labels(X, 4, seed=3, fit_sample=fit_sample))  # reproducible


@pytest.mark.parametrize("fit_sample", [20_000, 50])
def test_kmeans_k_is_capped_between_one_and_the_number_of_points(fit_sample):
    X, _ = blobs(30)
    assert set(kmeans_labels(X, 1, seed=0, fit_sample=fit_sample).tolist()) == {0}
    assert set(kmeans_labels(X, 0, seed=0, fit_sample=fit_sample).tolist()) == {0}
    few = X[[0, 40, 70]]
    assert sorted(kmeans_labels(few, 10, seed=0).tolist()) == [0, 1, 2]


def test_min_sq_distance_is_the_nearest_neighbour_across_every_block():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4 * BLOCK + 300, 3)).astype(np.float32)
    B = rng.normal(size=(BLOCK + 200, 3)).astype(np.float32)
    # The nearest row of B for A's last rows sits in B's last block.
    B[-1] = A[-1]
    expected = cKDTree(B).query(A)[0] ** 2
    got = min_sq_distance(A, B)
    assert got.shape == (A.shape[0],)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    assert got[-1] == pytest.approx(0.0, abs=1e-4)


def test_min_sq_distance_to_nothing_is_infinite():
    assert np.isinf(min_sq_distance(np.zeros((3, 2), np.float32), np.zeros((0, 2), np.float32))).all()


def test_new_items_join_the_cluster_of_the_nearest_centroid():
    from labelwise.strategies.geometry import assign_to_clusters

    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]], dtype=np.float32)
    clusters = np.array([1, 1, 0, 0])
    new = np.array([[1.0, 1.0], [9.0, 1.0], [4.9, 1.0], [5.1, 1.0]], dtype=np.float32)
    assert assign_to_clusters(X, clusters, new).tolist() == [1, 0, 1, 0]  # centroids (0, 1) and (10, 1)


def test_kmeans_of_a_big_pool_is_fitted_on_a_sample_of_distinct_points(monkeypatch):
    # The fit sample is a sample of the pool without repeats: a repeated point would weigh twice
    # in the fit. Recorded by a MiniBatchKMeans that keeps what it was fitted on.
    import labelwise.strategies.geometry as geometry

    fitted = []

    class Recording(MiniBatchKMeans):
        def fit(self, X, y=None, sample_weight=None):
            fitted.append(np.array(X))
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(geometry, "MiniBatchKMeans", Recording)
    X, _ = blobs(15)  # 60 distinct points
    for seed in range(3):
        kmeans_labels(X, 4, seed=seed, fit_sample=45)
    assert len(fitted) == 3
    pool = {tuple(row) for row in X.tolist()}
    for sample in fitted:
        rows = [tuple(row) for row in sample.tolist()]
        assert len(rows) == 45 and len(set(rows)) == 45 and set(rows) <= pool
