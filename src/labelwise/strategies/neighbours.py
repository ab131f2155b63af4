"""Nearest neighbours by cosine similarity: exact, in blocks, over the projected embeddings, or
through an IVF index (faiss) on large pools; near-duplicate pairs and groups."""

from __future__ import annotations

import numpy as np

from labelwise.strategies.geometry import BLOCK


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def nearest_by_cosine(
    X: np.ndarray, query: np.ndarray, candidates: np.ndarray, k: int, index: CosineIndex | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``X`` among ``candidates`` most similar to ``query``, most similar first.

    Parameters
    ----------
    X : (n, d) embeddings.
    query : (d,) one embedding.
    candidates : (m,) row indices of ``X`` to search.
    k : how many to return (fewer if there are fewer candidates).
    index : a :class:`CosineIndex` of ``X``: the rows come from it (approximate) when it finds ``k``
        candidates, else from the exact search.

    Returns
    -------
    indices : (min(k, m),) rows of ``X``; ties broken by the lower index, so the order is reproducible.
    similarities : their cosine similarity ``x.q / (|x| |q|)``, in [-1, 1].

    Exact search: one matrix-vector product per block of candidates, linear in the pool (about 15 ms
    a query for 20,000 64-dimensional vectors on a busy machine, benchmarks/bench_similar.py --scale).
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if k <= 0 or candidates.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    q = unit_rows(np.asarray(query)[None, :])[0]
    found = index.search(q, candidates, min(k, candidates.size)) if index is not None else None
    if found is not None:
        candidates = found  # the index's pick, scored and ordered exactly as below
    sims = np.empty(candidates.size, np.float32)
    for start in range(0, candidates.size, 16 * BLOCK):
        rows = candidates[start : start + 16 * BLOCK]
        sims[start : start + rows.size] = unit_rows(X[rows]) @ q
    order = np.lexsort((candidates, -sims))[:k]
    return candidates[order], sims[order]


def ivf_index(U: np.ndarray):
    """An empty faiss ``IndexIVFFlat`` (inner product) whose cells are trained on the unit rows ``U``
    ``(n, d)`` float32: about 4 sqrt(n) cells (faiss's guidance), at least 39 training rows per cell (its
    minimum). k-means on a sample, seeded by faiss, so the cells are reproducible. Add the rows to search."""
    import faiss

    n, d = U.shape
    cells = max(1, min(int(4 * np.sqrt(n)), n // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, cells, faiss.METRIC_INNER_PRODUCT)
    index.train(U)
    return index


# From this many rows on, the similar-image search goes through a CosineIndex: below it the exact
# search is a few milliseconds and always right.
INDEX_LIMIT = 100_000
# Cells probed per similar-image query (of about 4 sqrt(n)). A query is one matrix-vector product per
# probed cell, so more cells cost little; 16 missed a few of 48 neighbours on clustered test pools.
SEARCH_NPROBE = 64


class CosineIndex:
    """An inverted-file index (faiss ``IndexIVFFlat``, inner product on unit rows) of ``X``: a query is
    compared with the rows of the ``SEARCH_NPROBE`` cells nearest to it instead of every row. Approximate: a
    neighbour in a cell not probed is missed. Built once per pool (k-means, seeded by faiss)."""

    def __init__(self, X: np.ndarray) -> None:
        U = np.ascontiguousarray(unit_rows(X))
        self.n = U.shape[0]
        self._index = ivf_index(U)
        self._index.add(U)

    def add(self, X: np.ndarray) -> None:
        """Index rows ``X`` after the others (new images): they join the existing cells, which stay
        as the k-means fitted them; a much grown pool is better indexed anew."""
        self._index.add(np.ascontiguousarray(unit_rows(X)))
        self.n += X.shape[0]

    def search(self, q: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray | None:
        """Up to ``k`` rows among ``candidates`` nearest to the unit vector ``q``; ``None`` when the
        probed cells hold fewer than ``k`` candidates (the caller then searches exactly)."""
        import faiss

        allowed = np.zeros(self.n, dtype=bool)
        allowed[candidates] = True
        bitmap = np.packbits(allowed, bitorder="little")  # faiss reads bit i of byte i // 8
        selector = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=SEARCH_NPROBE)
        _, rows = self._index.search(np.ascontiguousarray(q[None, :], dtype=np.float32), k, params=params)
        rows = rows[0][rows[0] >= 0]
        return rows.astype(np.int64) if rows.size >= k else None


# Above this many rows, near-duplicate candidate pairs come from an inverted-file index (faiss IVF:
# each row is compared with the rows of the few cells nearest to it) instead of every other row. Below
# it the exact search takes seconds (5 s for 20,000 x 256 on a busy machine,
# benchmarks/bench_near_duplicates.py --scale; quadratic), and exact is what precision was measured on.
EXACT_LIMIT = 50_000
# Cells searched per row in the IVF index, of about 4 sqrt(n): near-duplicates lie in the cell of
# their twin or a neighbouring one (agreement with the exact pairs measured at 100,000 rows).
NPROBE = 16
# float32 rounding: two vectors of one direction may give a cosine of 0.99999994, not 1.0.
TOLERANCE = 1e-6


def similar_pairs(
    X: np.ndarray, threshold: float, exact: bool | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of rows with a cosine similarity of at least ``threshold``.

    Parameters
    ----------
    X : (n, d) embeddings.
    threshold : cosine similarity in (0, 1].
    exact : compare every pair (quadratic) when true; use an IVF index (faiss, approximate: a pair
        whose rows fall in far-apart cells is missed) when false; ``None`` chooses exact up to
        ``EXACT_LIMIT`` rows.

    Returns
    -------
    i, j : (p,) int64 row indices, ``i < j``.
    similarities : (p,) float32 cosine similarities, each at least ``threshold`` (to ``TOLERANCE``).
    """
    import faiss  # imported here: only ingest with grouping on and large similar searches need it

    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold: must be in (0, 1], got {threshold}")
    U = np.ascontiguousarray(unit_rows(X))
    n, d = U.shape
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    if exact is None:
        exact = n <= EXACT_LIMIT
    if exact:
        index = faiss.IndexFlatIP(d)
    else:
        index = ivf_index(U)
        index.nprobe = NPROBE
    index.add(U)
    found_i, found_j, found_s = [], [], []
    for start in range(0, n, BLOCK):
        # faiss keeps similarities strictly above the radius; the tolerance makes it "at least".
        lims, sims, rows = index.range_search(U[start : start + BLOCK], threshold - TOLERANCE)
        query = np.repeat(np.arange(start, start + lims.size - 1), np.diff(lims.astype(np.int64)))
        keep = rows > query  # each pair once, and not a row with itself
        found_i.append(query[keep])
        found_j.append(rows[keep].astype(np.int64))
        found_s.append(sims[keep])
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s).astype(np.float32)


def near_duplicate_groups(X: np.ndarray, threshold: float, exact: bool | None = None) -> np.ndarray:
    """Group rows so that every two rows of a group have a cosine similarity of at least ``threshold``.

    Parameters
    ----------
    X : (n, d) embeddings.
    threshold : cosine similarity in (0, 1].
    exact : how the pairs are found, see :func:`similar_pairs`.

    Returns
    -------
    groups : (n,) int64, the group of each row, numbered from 0 by the group's first row; -1 for a row
        with no near-duplicate.

    Complete linkage, greedily: pairs are taken most similar first (ties by row), and two groups merge
    only when every row of one is at least ``threshold`` from every row of the other. Single linkage
    (any chain of close pairs is one group) was measured first and chained look-alike pictures into
    groups of hundreds: on the 30%-near-duplicates pool (docs/faster.md) its precision at a threshold
    with useful recall was 0.02-0.17, complete linkage's 0.5-0.96 at the same thresholds.
    """
    i, j, sims = similar_pairs(X, threshold, exact)
    n = np.asarray(X).shape[0]
    neighbours: dict[int, set[int]] = {}
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    root = np.arange(n)  # each row's group, named by its first row
    members: dict[int, list[int]] = {}
    for k in np.lexsort((j, i, -sims)).tolist():
        a, b = int(root[i[k]]), int(root[j[k]])
        if a == b:
            continue
        first, second = members.get(a, [a]), members.get(b, [b])
        if all(y in neighbours[x] for x in first for y in second):
            keep, gone = min(a, b), max(a, b)
            members[keep] = first + second
            members.pop(gone, None)
            root[members[keep]] = keep
    groups = np.full(n, -1, dtype=np.int64)
    grouped = np.bincount(root, minlength=n)[root] > 1
    _, numbered = np.unique(root[grouped], return_inverse=True)
    groups[grouped] = numbered
    return groups
