"""Uncertainty combined with diversity: batches that are both informative and not redundant.

- BADGE: Ash et al., "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds"
  (ICLR 2020). k-means++ seeding over gradient embeddings. For a linear softmax head the gradient
  of the loss at the predicted label is ``g = (p - onehot(argmax p)) (x) [x, 1]``, so
  ``g_i . g_j = (r_i . r_j)(x_i . x_j + 1)`` with ``r = p - onehot``: distances come from two small
  products and the ``k * d`` vectors are never built.
- Cluster-Margin: Citovsky et al., "Batch Active Learning at Scale" (NeurIPS 2021). Keep the
  ``prefilter * n`` items of lowest margin, cluster them, then take one item per cluster in
  round-robin, smallest clusters first. The paper clusters the pool once with hierarchical
  average linkage; we take the view's pool clustering (k-means, once per pool) when it has one, and
  otherwise cluster the pre-filtered set into ``n`` clusters with k-means (the same diversity, but a
  k-means per batch: seconds for a queue of hundreds).
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.geometry import kmeans_labels
from labelwise.strategies.registry import PoolView
from labelwise.strategies.selection import random_argmax, top_k
from labelwise.strategies.uncertainty import margin

CLUSTER_MARGIN_PREFILTER = 10


def gradient_sq_distances(r: np.ndarray, X: np.ndarray, c: int) -> np.ndarray:
    """``|g_i - g_c|^2`` for ``g = r (x) [x, 1]``, from ``r`` ``(n, k)`` and ``X`` ``(n, d)`` alone."""
    norm_sq = (r * r).sum(axis=1) * ((X * X).sum(axis=1) + 1.0)
    return np.maximum(norm_sq + norm_sq[c] - 2.0 * (r @ r[c]) * (X @ X[c] + 1.0), 0.0)


def badge_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    probs = np.asarray(view.probs[candidates], dtype=np.float64)
    X = np.asarray(view.embeddings[candidates], dtype=np.float64)
    r = probs.copy()
    r[np.arange(r.shape[0]), probs.argmax(axis=1)] -= 1.0
    return candidates[kmeanspp_over_gradients(r, X, n, rng)]


def kmeanspp_over_gradients(r: np.ndarray, X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` row positions chosen by k-means++ seeding over the gradient embeddings ``r (x) [X, 1]``
    (``r`` ``(m, k)`` residuals, ``X`` ``(m, d)``), the largest gradient first (Ash et al. 2020, BADGE).
    Fewer when every remaining gradient equals a chosen one: the caller fills at random."""
    norm_sq = (r * r).sum(axis=1) * ((X * X).sum(axis=1) + 1.0)  # |g|^2
    chosen = [random_argmax(norm_sq, rng)]
    dist = np.full(r.shape[0], np.inf)
    for _ in range(min(n, r.shape[0]) - 1):
        np.minimum(dist, gradient_sq_distances(r, X, chosen[-1]), out=dist)
        dist[chosen] = 0.0
        total = dist.sum()
        if total <= 0:
            break
        chosen.append(int(rng.choice(r.shape[0], p=dist / total)))
    return np.array(chosen, dtype=np.intp)


def cluster_margin_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    scores = margin(view.probs[candidates])
    kept = candidates[top_k(scores, CLUSTER_MARGIN_PREFILTER * n, rng)]
    seed = int(rng.integers(2**31))  # drawn either way, so the round-robin order below is the same draw
    if view.clusters is not None:
        clusters = np.asarray(view.clusters)[kept]
    else:
        clusters = kmeans_labels(np.asarray(view.embeddings[kept], dtype=np.float32), n, seed)
    groups = [rng.permutation(kept[clusters == c]) for c in np.unique(clusters)]
    groups.sort(key=len)  # smallest clusters first
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n and any(depth < len(g) for g in groups):
        chosen.extend(int(g[depth]) for g in groups if depth < len(g))
        depth += 1
    return np.array(chosen[:n], dtype=np.intp)
