"""Distances in embedding space, computed in blocks so that big pools fit in memory."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

BLOCK = 4096


def sq_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(A), len(B))`` via ``|a|^2 + |b|^2 - 2 a.b`` (BLAS), clipped at 0."""
    A = np.asarray(A, dtype=np.float32)
    B = np.asarray(B, dtype=np.float32)
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d, 0.0, out=d)


def min_sq_distance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """For each row of ``A``, the squared distance to its nearest row of ``B`` (``inf`` if B is empty)."""
    out = np.full(A.shape[0], np.inf, dtype=np.float32)
    for start in range(0, B.shape[0], BLOCK):
        block = B[start : start + BLOCK]
        for a0 in range(0, A.shape[0], 4 * BLOCK):
            rows = slice(a0, a0 + 4 * BLOCK)
            np.minimum(out[rows], sq_distances(A[rows], block).min(axis=1), out=out[rows])
    return out


def kmeans_labels(X: np.ndarray, k: int, seed: int, fit_sample: int = 20_000) -> np.ndarray:
    """Cluster labels of ``X`` into ``k`` clusters; mini-batch k-means fitted on a sample for big pools."""
    k = max(1, min(k, X.shape[0]))
    if X.shape[0] <= fit_sample:
        return KMeans(k, n_init=1, random_state=seed).fit_predict(X)
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(X.shape[0], fit_sample, replace=False)]
    model = MiniBatchKMeans(k, n_init=3, random_state=seed, batch_size=4096).fit(sample)
    return model.predict(X)


# A pool clustering groups near-duplicates, not classes: about this many items per cluster, and at most
# POOL_CLUSTERS clusters (more cost time at every fold-in without changing a batch of tens of items).
POOL_CLUSTER_SIZE = 10
POOL_CLUSTERS = 500


POOL_FIT_SAMPLE = 10_000


def cluster_pool(X: np.ndarray, seed: int) -> np.ndarray:
    """``(N,)`` cluster of each pool item, from the embeddings alone: done once per pool, reused every round.

    Mini-batch k-means from random centres, fitted on a sample of ``POOL_FIT_SAMPLE`` items, then every
    item to its nearest centre. Not k-means++: its seeding of 500 centres took 139 s on the loaded 2-core
    machine where random centres and 10 passes took 7.5 s, and near-duplicate groups need no careful seeds.
    """
    n = X.shape[0]
    k = min(POOL_CLUSTERS, max(1, n // POOL_CLUSTER_SIZE))
    rng = np.random.default_rng(seed)
    sample = np.asarray(X if n <= POOL_FIT_SAMPLE else X[np.sort(rng.choice(n, POOL_FIT_SAMPLE, replace=False))],
                        dtype=np.float32)  # fmt: skip
    model = MiniBatchKMeans(k, init="random", n_init=1, max_iter=10, batch_size=4096, random_state=seed)
    centres = model.fit(sample).cluster_centers_
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, BLOCK):
        out[start : start + BLOCK] = sq_distances(X[start : start + BLOCK], centres).argmin(axis=1)
    return out


def assign_to_clusters(X: np.ndarray, clusters: np.ndarray, X_new: np.ndarray) -> np.ndarray:
    """Clusters of new items ``X_new``: the nearest centroid of the clusters ``(N,)`` of ``X``."""
    k = int(clusters.max()) + 1
    centroids = np.zeros((k, X.shape[1]), dtype=np.float64)
    np.add.at(centroids, clusters, X)
    centroids /= np.maximum(np.bincount(clusters, minlength=k), 1)[:, None]
    out = np.empty(X_new.shape[0], dtype=clusters.dtype)
    for start in range(0, X_new.shape[0], BLOCK):
        out[start : start + BLOCK] = sq_distances(X_new[start : start + BLOCK], centroids).argmin(axis=1)
    return out
