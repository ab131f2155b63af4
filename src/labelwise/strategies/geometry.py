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
