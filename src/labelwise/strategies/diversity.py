"""Diversity and coverage strategies over embeddings: they need no model, so they work from 0 labels.

- k-center greedy: Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
  Approach" (ICLR 2018). Repeatedly pick the item farthest from everything labeled or picked.
- TypiClust: Hacohen, Dekel & Weinshall, "Active Learning on a Budget" (ICML 2022). Cluster the pool
  into (labeled + batch) clusters; from the clusters with the fewest labels (the largest first),
  pick the most typical item, typicality = 1 / mean distance to its k nearest neighbours.
- ProbCover: Yehuda, Dekel, Hacohen & Weinshall, "Active Learning Through a Covering Lens" (NeurIPS
  2022). Greedy maximum coverage of delta-balls; delta is the largest radius at which at least 95%
  of the balls are pure with respect to k-means pseudo-labels.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans

from labelwise.strategies.geometry import BLOCK, kmeans_labels, min_sq_distance, sq_distances
from labelwise.strategies.registry import PoolView
from labelwise.strategies.selection import random_argmax

MAX_CLUSTERS = 500  # TypiClust's cap: more clusters than this cost time without changing picks
TYPICALITY_NEIGHBOURS = 20
PROBCOVER_SAMPLE = 10_000
PURITY = 0.95


def kcenter_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    X = view.embeddings
    Xc = np.asarray(X[candidates], dtype=np.float32)
    labeled = np.flatnonzero(view.labeled)
    chosen: list[int] = []
    if labeled.size:
        dist = min_sq_distance(Xc, np.asarray(X[labeled], dtype=np.float32))
    else:
        # Nothing labeled: start from the most central item, the most typical single choice.
        first = random_argmax(-sq_distances(Xc, Xc.mean(axis=0, keepdims=True))[:, 0], rng)
        chosen.append(first)
        dist = sq_distances(Xc, Xc[first : first + 1])[:, 0]
        dist[first] = -1.0
    return candidates[_farthest_first(Xc, dist, n - len(chosen), chosen, rng)]


def _farthest_first(Xc: np.ndarray, dist: np.ndarray, n: int, chosen: list[int], rng: np.random.Generator) -> list[int]:
    for _ in range(max(0, min(n, Xc.shape[0] - len(chosen)))):
        i = random_argmax(dist, rng)
        chosen.append(i)
        np.minimum(dist, sq_distances(Xc, Xc[i : i + 1])[:, 0], out=dist)
        dist[chosen] = -1.0
    return chosen


def typicality(members: np.ndarray, k: int = TYPICALITY_NEIGHBOURS, reference: int = 5_000) -> np.ndarray:
    """``1 / mean distance to the k nearest neighbours`` of each member, within ``members``."""
    m = members.shape[0]
    if m == 1:
        return np.ones(1)
    k = min(k, m - 1)
    ref = members if m <= reference else members[np.linspace(0, m - 1, reference).astype(int)]
    d = np.sqrt(sq_distances(members, ref))
    nearest = np.partition(d, k, axis=1)[:, 1 : k + 1]  # column 0 is the member itself (distance 0)
    return 1.0 / (nearest.mean(axis=1) + 1e-12)


# Each item's typicality within its pool cluster is measured against at most this many of the cluster's
# members: the 20 nearest among 500 (at a million images a pool cluster holds about 2,000) rank items by
# local density as the full count does, at a quarter of the distances.
POOL_TYPICALITY_REFERENCE = 500


def pool_typicality(X: np.ndarray, clusters: np.ndarray, reference: int = POOL_TYPICALITY_REFERENCE) -> np.ndarray:
    """``(N,)`` typicality of every item within its pool cluster (``clusters``, ``(N,)``, a clustering
    that does not depend on the labels): label-independent, so computed once per pool and reused by
    TypiClust every round (``PoolView.typicality``) instead of once per pick."""
    X = np.asarray(X, dtype=np.float32)
    out = np.empty(X.shape[0], dtype=np.float64)
    order = np.argsort(clusters, kind="stable")
    bounds = np.flatnonzero(np.diff(clusters[order])) + 1
    for members in np.split(order, bounds):
        if members.size:
            out[members] = typicality(X[members], reference=reference)
    return out


def fold_in_typicality(
    X: np.ndarray, clusters: np.ndarray, X_new: np.ndarray, clusters_new: np.ndarray,
    reference: int = POOL_TYPICALITY_REFERENCE,
) -> np.ndarray:  # fmt: skip
    """Typicality of new items ``X_new`` within the clusters ``clusters_new`` they joined, measured
    against (up to ``reference``) members the pool already had; the old items' values stay."""
    X_new = np.asarray(X_new, dtype=np.float32)
    out = np.ones(X_new.shape[0], dtype=np.float64)
    for c in np.unique(clusters_new):
        new = np.flatnonzero(clusters_new == c)
        members = np.flatnonzero(clusters == c)
        if members.size == 0:
            continue
        if members.size > reference:
            members = members[np.linspace(0, members.size - 1, reference).astype(int)]
        d = np.sqrt(sq_distances(X_new[new], np.asarray(X[members], dtype=np.float32)))
        k = min(TYPICALITY_NEIGHBOURS, members.size)
        out[new] = 1.0 / (np.partition(d, k - 1, axis=1)[:, :k].mean(axis=1) + 1e-12)
    return out


def typiclust_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    """TypiClust's batch. With ``view.clusters`` and ``view.typicality`` (computed once per pool), the
    (labeled + n) clusters group the pool clusters (k-means of their centroids, weighted by size) and
    each pick reads the stored typicality; without them, the pool is clustered and typicality measured
    here, per batch and per pick, as in the paper."""
    X = view.embeddings
    labeled = np.flatnonzero(view.labeled)
    points = np.concatenate([labeled, candidates])
    k = min(labeled.size + n, MAX_CLUSTERS, points.size)
    seed = int(rng.integers(2**31))
    precomputed = view.clusters is not None and view.typicality is not None
    if precomputed:
        clusters = _group_pool_clusters(X, np.asarray(view.clusters), k, seed)[points]
    else:
        clusters = kmeans_labels(np.asarray(X[points], dtype=np.float32), k, seed)
    n_clusters = int(clusters.max()) + 1
    label_count = np.bincount(clusters[: labeled.size], minlength=n_clusters).astype(float)
    cand_clusters = clusters[labeled.size :]
    size = np.bincount(clusters, minlength=n_clusters)
    available = np.bincount(cand_clusters, minlength=n_clusters)
    chosen: list[int] = []
    taken = np.zeros(candidates.size, dtype=bool)
    for _ in range(n):
        open_ = available > 0
        if not open_.any():
            break
        # Fewest labels first; among those, the largest cluster (lexsort: last key is primary).
        order = np.lexsort((-size, label_count))
        c = next(int(c) for c in order if open_[c])
        members = np.flatnonzero((cand_clusters == c) & ~taken)
        if precomputed:
            typical = np.asarray(view.typicality)[candidates[members]]
        else:
            typical = typicality(np.asarray(X[candidates[members]], dtype=np.float32))
        # Exact duplicates are equally typical: draw among them rather than take the first.
        pick = members[random_argmax(typical, rng)]
        taken[pick] = True
        chosen.append(int(candidates[pick]))
        label_count[c] += 1
        available[c] -= 1
    return np.array(chosen, dtype=np.intp)


def _group_pool_clusters(X: np.ndarray, pool_clusters: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``(N,)`` TypiClust's ``k`` clusters made of the pool's clusters: each pool cluster goes whole to the
    nearest of ``k`` centres found by k-means over the pool clusters' centroids, weighted by their sizes."""
    n_pool = int(pool_clusters.max()) + 1
    members = sparse.csr_matrix(
        (np.ones(pool_clusters.size, dtype=np.float32), (pool_clusters, np.arange(pool_clusters.size))),
        shape=(n_pool, pool_clusters.size),
    )
    sizes = np.asarray(members.sum(axis=1)).ravel()
    centroids = np.asarray(members @ np.asarray(X, dtype=np.float32)) / np.maximum(sizes, 1)[:, None]
    present = np.flatnonzero(sizes > 0)
    if k >= present.size:
        return pool_clusters
    groups = np.zeros(n_pool, dtype=np.int64)
    model = KMeans(k, n_init=1, random_state=seed).fit(centroids[present], sample_weight=sizes[present])
    groups[present] = model.labels_
    return groups[pool_clusters]


def purity_radius(Z: np.ndarray, pseudo: np.ndarray, purity: float = PURITY) -> float:
    """The largest delta at which a fraction ``purity`` of delta-balls hold a single pseudo-label.

    A ball around x is pure while delta is below the distance from x to the nearest point of
    another pseudo-class, so delta is the ``1 - purity`` quantile of those distances.
    """
    nearest_other = np.full(Z.shape[0], np.inf, dtype=np.float32)
    for start in range(0, Z.shape[0], BLOCK):
        d = sq_distances(Z[start : start + BLOCK], Z)
        d[pseudo[start : start + BLOCK, None] == pseudo[None, :]] = np.inf
        nearest_other[start : start + BLOCK] = d.min(axis=1)
    finite = nearest_other[np.isfinite(nearest_other)]
    return float(np.sqrt(np.quantile(finite, 1.0 - purity))) if finite.size else 0.0


def probcover_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    X = view.embeddings
    if candidates.size > PROBCOVER_SAMPLE:
        candidates = np.sort(rng.choice(candidates, PROBCOVER_SAMPLE, replace=False))
    labeled = np.flatnonzero(view.labeled)
    if labeled.size > PROBCOVER_SAMPLE:
        labeled = rng.choice(labeled, PROBCOVER_SAMPLE, replace=False)
    Z = np.asarray(X[np.concatenate([candidates, labeled])], dtype=np.float32)
    n_classes = view.n_classes or (view.probs.shape[1] if view.probs is not None else 10)
    delta = purity_radius(Z, kmeans_labels(Z, n_classes, int(rng.integers(2**31))))
    # Ball graph: row i lists the points within delta of point i (candidates first, then labeled).
    rows, cols = [], []
    for start in range(0, Z.shape[0], BLOCK):
        r, c = np.nonzero(sq_distances(Z[start : start + BLOCK], Z) <= delta * delta)
        rows.append(r + start)
        cols.append(c)
    balls = sparse.csr_matrix(
        (np.ones(sum(r.size for r in rows), dtype=np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(Z.shape[0], Z.shape[0]),
    )
    covered = np.zeros(Z.shape[0], dtype=bool)
    if labeled.size:
        covered[balls[candidates.size :].indices] = True
    candidate_balls = balls[: candidates.size].tocsc()  # column slices below
    gain = np.asarray(candidate_balls @ (~covered).astype(np.float32)).ravel()
    chosen: list[int] = []
    for _ in range(min(n, candidates.size)):
        gain[chosen] = -1.0
        i = random_argmax(gain, rng)  # gains are counts: ties are the rule, not the exception
        if gain[i] <= 0:
            break  # everything is covered: the caller fills the rest at random
        chosen.append(i)
        newly = balls[i].indices[~covered[balls[i].indices]]
        covered[newly] = True
        # Each candidate whose ball holds a newly covered point gains that much less.
        gain -= np.asarray(candidate_balls[:, newly].sum(axis=1)).ravel()
    return candidates[np.array(chosen, dtype=np.intp)]
