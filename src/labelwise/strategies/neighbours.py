"""Nearest neighbours by cosine similarity: exact, in blocks, over the projected embeddings."""

from __future__ import annotations

import numpy as np

from labelwise.strategies.geometry import BLOCK


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def nearest_by_cosine(
    X: np.ndarray, query: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``X`` among ``candidates`` most similar to ``query``, most similar first.

    Parameters
    ----------
    X : (n, d) embeddings.
    query : (d,) one embedding.
    candidates : (m,) row indices of ``X`` to search.
    k : how many to return (fewer if there are fewer candidates).

    Returns
    -------
    indices : (min(k, m),) rows of ``X``; ties broken by the lower index, so the order is reproducible.
    similarities : their cosine similarity ``x.q / (|x| |q|)``, in [-1, 1].

    Exact search: one matrix-vector product per block of candidates, linear in the pool, which stays
    well under a second for a million 64-dimensional projected vectors.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if k <= 0 or candidates.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    q = unit_rows(np.asarray(query)[None, :])[0]
    sims = np.empty(candidates.size, np.float32)
    for start in range(0, candidates.size, 16 * BLOCK):
        rows = candidates[start : start + 16 * BLOCK]
        sims[start : start + rows.size] = unit_rows(X[rows]) @ q
    order = np.lexsort((candidates, -sims))[:k]
    return candidates[order], sims[order]
