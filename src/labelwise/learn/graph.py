"""The k-nearest-neighbour graph of a pool, built once per pool and reused by every retrain.

The graph depends on the embeddings only, never on the labels, so a retrain (and each fold of the
``auto`` head's cross-validation) reuses it: a retrain costs a few sparse products, not a
neighbour search. It is kept in a small in-process cache keyed by a fingerprint of the array's
bytes, so a server that reloads the same pool each retrain still finds it.

Cosine geometry: rows are L2-normalised first, as is usual for frozen embeddings (the scale of an
embedding carries little class information; its direction does).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

N_NEIGHBORS = 10  # the usual choice for kNN label propagation (Zhou et al. 2004; scikit-learn's default is 7)
_CACHE_SIZE = 4  # a pool graph plus a test split's neighbours, for a couple of pools
_cache: OrderedDict[tuple, object] = OrderedDict()


def fingerprint(X: np.ndarray) -> str:
    """A digest of ``X``'s shape, dtype and bytes: equal arrays share it, whatever object holds them."""
    X = np.ascontiguousarray(X)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{X.shape}{X.dtype}".encode())
    digest.update(memoryview(X).cast("B"))
    return digest.hexdigest()


def _cached(key: tuple, build):
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    value = build()
    _cache[key] = value
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return value


def normalize_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def neighbors(pool: np.ndarray, X: np.ndarray | None = None, k: int = N_NEIGHBORS) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest pool rows of each row of ``X`` (of the pool itself, excluding each row, when
    ``X`` is None): ``(indices (n, k), cosine similarities (n, k))``. Cached by fingerprint."""
    pool_key = fingerprint(pool)
    x_key = None if X is None else fingerprint(X)

    def build():
        P = normalize_rows(pool)
        n_pool = P.shape[0]
        if X is None:
            kk = min(k + 1, n_pool)
            dist, idx = NearestNeighbors(n_neighbors=kk).fit(P).kneighbors(P)
            # Drop each row itself (a duplicate may come first: drop the own index, keep k others).
            own = idx == np.arange(n_pool)[:, None]
            own[own.sum(axis=1) == 0, -1] = True
            keep = ~own
            idx = idx[keep].reshape(n_pool, kk - 1)
            dist = dist[keep].reshape(n_pool, kk - 1)
        else:
            Q = normalize_rows(X)
            dist, idx = NearestNeighbors(n_neighbors=min(k, n_pool)).fit(P).kneighbors(Q)
        # On unit vectors, squared euclidean distance = 2 - 2 cos.
        return idx, (1.0 - dist.astype(np.float64) ** 2 / 2.0)

    return _cached(("neighbors", pool_key, x_key, k), build)


def normalized_graph(pool: np.ndarray, k: int = N_NEIGHBORS) -> sp.csr_matrix:
    """``S = D^-1/2 W D^-1/2`` of the symmetrised kNN connectivity ``W`` (Zhou et al. 2004), ``(N, N)``."""

    def build():
        idx, _ = neighbors(pool, None, k)
        n = idx.shape[0]
        rows = np.repeat(np.arange(n), idx.shape[1])
        W = sp.csr_matrix((np.ones(rows.size), (rows, idx.ravel())), shape=(n, n))
        W = ((W + W.T) * 0.5).tocsr()  # symmetric: i is j's neighbour or j is i's
        degree = np.asarray(W.sum(axis=1)).ravel()
        inv_sqrt = 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0))
        return sp.diags(inv_sqrt) @ W @ sp.diags(inv_sqrt)

    return _cached(("graph", fingerprint(pool), k), build)


def clear_cache() -> None:
    _cache.clear()
