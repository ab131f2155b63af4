"""Multi-label batches that are informative and not redundant: two single-label recipes carried over.

- Cluster-then-round-robin, after Cluster-Margin (Citovsky et al., "Batch Active Learning at Scale",
  NeurIPS 2021): keep the ``CLUSTER_MARGIN_PREFILTER * n`` (10 n, the single-label strategy's
  constant) most informative items by a multi-label score, cluster them into ``n`` clusters with
  k-means on the embeddings, then take one item per cluster in round-robin, smallest clusters first.
  Top-n by a score alone fills a batch of 20 with near-copies of the same doubtful pair of classes.
- BADGE (Ash et al., "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds",
  ICLR 2020) for one-vs-rest heads: the gradient of the summed binary cross-entropy of a linear
  head at the hallucinated labels ``y^_k = 1[p_k >= 0.5]`` is ``g = (p - y^) (x) [x, 1]``, so the
  same k-means++ seeding over gradients as single-label BADGE applies with ``r = p - y^``; its
  norm grows with every doubtful class, its spread with how different the images are.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.geometry import kmeans_labels
from labelwise.strategies.hybrid import CLUSTER_MARGIN_PREFILTER, kmeanspp_over_gradients
from labelwise.strategies.selection import top_k


def cluster_round_robin(
    scores: np.ndarray, embeddings: np.ndarray, n: int, rng: np.random.Generator, candidates: np.ndarray
) -> np.ndarray:
    """Up to ``n`` of ``candidates``: the ``10 n`` best by ``scores`` ``(N,)``, clustered on
    ``embeddings`` ``(N, d)`` into ``n`` groups, taken one per group in turn, smallest groups first."""
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    kept = candidates[top_k(np.asarray(scores)[candidates], CLUSTER_MARGIN_PREFILTER * n, rng)]
    clusters = kmeans_labels(np.asarray(embeddings[kept], dtype=np.float32), n, int(rng.integers(2**31)))
    groups = [rng.permutation(kept[clusters == c]) for c in np.unique(clusters)]
    groups.sort(key=len)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n and any(depth < len(g) for g in groups):
        chosen.extend(int(g[depth]) for g in groups if depth < len(g))
        depth += 1
    return np.array(chosen[:n], dtype=np.intp)


def binary_badge(
    probs: np.ndarray, embeddings: np.ndarray, n: int, rng: np.random.Generator, candidates: np.ndarray
) -> np.ndarray:
    """Up to ``n`` of ``candidates`` by k-means++ seeding over one-vs-rest gradients ``(p - y^) (x) [x, 1]``."""
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    p = np.asarray(probs[candidates], dtype=np.float64)
    X = np.asarray(embeddings[candidates], dtype=np.float64)
    r = p - (p >= 0.5)
    return candidates[kmeanspp_over_gradients(r, X, n, rng)]
