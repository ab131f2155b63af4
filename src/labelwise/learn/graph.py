"""The k-nearest-neighbour graph of a pool, built once per pool and reused by every retrain.

The graph depends on the embeddings only, never on the labels, so a retrain (and each fold of the
``auto`` head's cross-validation) reuses it: a retrain costs a few sparse products, not a
neighbour search. It is kept twice, both keyed by a fingerprint of the pool's bytes: in a small
in-process cache, and on disk (``<cache>/graphs/<fingerprint>-k<k>-v<GRAPH_VERSION>.npz``), so a server restart or a
second process finds it; a changed pool has another fingerprint, so a stale graph is never used.

Neighbours come from faiss (already used by the near-duplicate and similar-image searches): exact
inner products up to ``EXACT_LIMIT`` rows, above that an inverted-file index (``IndexIVFFlat``,
``sqrt(n)`` cells, ``NPROBE`` probed), which is approximate (a neighbour in a cell not probed is
missed) and grows as ``n^1.5`` instead of ``n^2`` (``benchmarks/bench_heads.py`` measures both).
The near-duplicate search's ``4 sqrt(n)`` cells with 16 probed found 70% of the exact neighbours
at 25k synthetic rows and 41% at 100k; ``sqrt(n)`` cells with 8 probed scan the same share of the
pool per row, in bigger cells, and find more (docs/heads.md, Cost); the k-means that places the
cells is trained on ``TRAIN_PER_CELL`` rows per cell.

Cosine geometry: rows are L2-normalised first, as is usual for frozen embeddings (the scale of an
embedding carries little class information; its direction does).
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp

from labelwise.paths import atomic_write, cache_dir

N_NEIGHBORS = 10  # the usual choice for kNN label propagation (Zhou et al. 2004; scikit-learn's default is 7)
# Up to this many pool rows the neighbours are exact (faiss flat inner product, one BLAS product per
# block: about 1 s for 20,000 x 256 on one core); above it, an IVF index.
EXACT_LIMIT = 20_000
# Cells probed per row in the IVF index (of sqrt(n)): 8 scans 8 / sqrt(n) of the pool per row (2.5%
# at 100k). A missed neighbour is replaced by the next nearest one found, which for label spreading
# is still a close image; the recall and the neighbours' class agreement are printed by
# benchmarks/bench_heads.py.
NPROBE = 8
# Rows per cell the k-means of the IVF index is trained on (faiss samples them, seeded; its default
# is 256, its minimum 39): the cells only route the search, they need not be exact.
TRAIN_PER_CELL = 64
GRAPH_VERSION = 2  # in the disk file's name: a graph built another way is not read back
_BLOCK = 4096  # query rows per faiss call: bounds the (block, k) result arrays and the BLAS scratch
_CACHE_SIZE = 4  # a pool graph plus a test split's neighbours, for a couple of pools
_DISK_KEEP = 8  # graph files kept on disk (oldest removed first): a few pools' worth
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
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0))


def _index(P: np.ndarray):
    """A faiss inner-product index of the unit rows ``P``: flat (exact) or IVF (approximate)."""
    import faiss  # imported here: only the semi-supervised heads need it

    n, d = P.shape
    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(d)
    else:
        # sqrt(n) cells (see the module docstring), and at least 39 training rows per cell (faiss's minimum).
        cells = max(1, min(int(np.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.max_points_per_centroid = TRAIN_PER_CELL
        index.train(P)  # k-means on a sample, seeded by faiss: the cells are reproducible
        index.nprobe = NPROBE
    index.add(P)
    return index


def _search(index, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = np.empty((Q.shape[0], k), np.float32)
    idx = np.empty((Q.shape[0], k), np.int64)
    for start in range(0, Q.shape[0], _BLOCK):
        sims[start : start + _BLOCK], idx[start : start + _BLOCK] = index.search(Q[start : start + _BLOCK], k)
    return idx, sims


def _pool_neighbors(P: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pool row's ``k`` nearest other rows: ``(indices (n, k) int32, similarities (n, k) float32)``."""
    n = P.shape[0]
    kk = min(k + 1, n)
    idx, sims = _search(_index(P), P, kk)
    # Drop each row itself (a duplicate may come first: drop the own index, else the last one found).
    own = idx == np.arange(n)[:, None]
    own[own.sum(axis=1) == 0, -1] = True
    keep = ~own
    idx, sims = idx[keep].reshape(n, kk - 1), sims[keep].reshape(n, kk - 1)
    # An IVF search that finds fewer than k rows pads with -1: such a slot points at the row itself
    # with similarity 0, which adds no edge below (zero weight).
    missing = idx < 0
    idx[missing] = np.broadcast_to(np.arange(n)[:, None], idx.shape)[missing]
    sims[missing] = 0.0
    return idx.astype(np.int32), sims


def graph_file(key: str, k: int):
    return cache_dir() / "graphs" / f"{key}-k{k}-v{GRAPH_VERSION}.npz"


def _load(path, n: int, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The neighbours stored at ``path``, or ``None`` when it is missing or not a graph of this pool
    (truncated, another shape): the caller then rebuilds it and writes it anew."""
    try:
        with np.load(path) as stored:
            idx, sims = stored["idx"], stored["sims"]
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if idx.shape != (n, min(k, n - 1)) or sims.shape != idx.shape or idx.min(initial=0) < 0 or idx.max(initial=0) >= n:
        return None
    return idx, sims


def _store(path, idx: np.ndarray, sims: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, idx=idx, sims=sims)
    try:
        atomic_write(path, lambda file: file.write(buffer.getvalue()))
        old = sorted(path.parent.glob("*.npz"), key=lambda p: p.stat().st_mtime)[:-_DISK_KEEP]
        for stale in old:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full cache only costs the next process a rebuild


def neighbors(
    pool: np.ndarray, X: np.ndarray | None = None, k: int = N_NEIGHBORS, pool_key: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest pool rows of each row of ``X`` (of the pool itself, excluding each row, when
    ``X`` is None): ``(indices (n, k), cosine similarities (n, k))``. Cached by fingerprint (``pool_key``:
    the pool's, when the caller has it); the pool's own neighbours also on disk."""
    pool_key = fingerprint(pool) if pool_key is None else pool_key
    x_key = None if X is None else fingerprint(X)

    def build():
        if X is None:
            path = graph_file(pool_key, k)
            found = _load(path, pool.shape[0], k)
            if found is None:
                found = _pool_neighbors(normalize_rows(pool), k)
                _store(path, *found)
            return found
        P = normalize_rows(pool)
        return _search(_index(P), normalize_rows(X), min(k, P.shape[0]))

    return _cached(("neighbors", pool_key, x_key, k), build)


def normalized_graph(pool: np.ndarray, k: int = N_NEIGHBORS, key: str | None = None) -> sp.csr_matrix:
    """``S = D^-1/2 W D^-1/2`` of the symmetrised kNN connectivity ``W`` (Zhou et al. 2004), ``(N, N)``,
    float32 (the spreading's products read it many times: half the memory traffic of float64).
    ``key``: the pool's :func:`fingerprint` when the caller has it (hashing 100k x 256 takes 0.1-0.6 s)."""
    key = fingerprint(pool) if key is None else key

    def build():
        idx, _ = neighbors(pool, None, k, key)
        n = idx.shape[0]
        rows = np.repeat(np.arange(n, dtype=np.int32), idx.shape[1])
        cols = idx.ravel()
        edge = cols != rows  # a padded slot (the row itself) is no edge
        W = sp.csr_matrix((np.ones(int(edge.sum()), np.float32), (rows[edge], cols[edge])), shape=(n, n))
        W = ((W + W.T) * 0.5).tocsr()  # symmetric: i is j's neighbour or j is i's
        degree = np.asarray(W.sum(axis=1)).ravel()
        inv_sqrt = (1.0 / np.sqrt(np.where(degree > 0, degree, 1.0))).astype(np.float32)
        return (sp.diags(inv_sqrt) @ W @ sp.diags(inv_sqrt)).astype(np.float32).tocsr()

    return _cached(("graph", key, k), build)


def clear_cache() -> None:
    """Forget the in-process graphs (the disk copies stay: they are keyed by the pool's bytes)."""
    _cache.clear()
