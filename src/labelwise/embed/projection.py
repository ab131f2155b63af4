"""Projection of embeddings to fewer dimensions for the heads: PCA fitted on the pool.

Heads train and score faster on 256 dimensions than on 1280, and the pool's own principal
components need no labels. What it costs in accuracy is measured in docs/embeddings.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from labelwise.paths import atomic_write

# A process that keeps a projected pool (the training worker) projects new images with the projection it
# has while the pool has grown by less than this share since the fit, and refits past it: a few percent
# more images barely move the principal components, and a refit re-projects the whole pool.
REFIT_GROWTH = 0.2
# The principal components of a larger pool are fitted on a random sample of this many of its vectors (seeded,
# the same sample for the same pool): 50,000 vectors estimate a covariance of a few hundred dimensions closely,
# while the fit on every vector was the largest part of a first ranking (26 of 40 s at 100,000 images on the
# loaded 2-core machine; about ten times that at a million). Smaller pools are fitted on every vector, as before.
FIT_SAMPLE = 50_000


@dataclass(frozen=True)
class Projection:
    """A fitted PCA: ``mean`` ``(d,)``, ``components`` ``(k, d)``, fitted on ``n`` vectors."""

    mean: np.ndarray
    components: np.ndarray
    n: int

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        return _apply(vectors, self.mean, self.components)


def project_features(vectors: np.ndarray, components: int, cache: Path | None = None, seed: int = 0) -> np.ndarray:
    """PCA of ``vectors`` ``(n, d)`` to ``components`` dimensions (0 or >= d: unchanged), float32.

    With ``cache``, the fitted projection is saved there and reused while the pool size is the same.
    """
    return fit_projection(vectors, components, cache, seed)[0]


def fit_projection(
    vectors: np.ndarray, components: int, cache: Path | None = None, seed: int = 0, *, apply: bool = True
) -> tuple[np.ndarray | None, Projection | None]:
    """:func:`project_features`, and the projection it applied (``None``: the vectors are unchanged).

    apply: False to fit (or read from ``cache``) only, the projected vectors then ``None`` (a caller that
    keeps the projected pool on disk projects only the rows it lacks)."""
    n, d = vectors.shape
    k = min(components, n, d) if components else d
    if k >= d or n < 2:
        return np.asarray(vectors, dtype=np.float32), None
    if cache is not None and cache.exists():
        saved = np.load(cache)
        if int(saved["n"]) == n and saved["components"].shape == (k, d):
            projection = Projection(saved["mean"], saved["components"], n)
            return (projection.apply(vectors) if apply else None), projection
    if n <= FIT_SAMPLE:
        fit_on = np.asarray(vectors)
    else:
        fit_on = np.asarray(vectors[np.sort(np.random.default_rng(seed).choice(n, FIT_SAMPLE, replace=False))])
    # The eigenvectors of the d x d covariance (exact, one pass over the sample): 0.8 s against 14-17 s for
    # the randomized SVD on 50,000 x 512 (load 10). Exact components replace the randomized estimate,
    # whose explained variances were up to 8% off on that sample: projected values change slightly.
    pca = PCA(n_components=k, svd_solver="covariance_eigh", random_state=seed).fit(fit_on)
    if cache is not None:
        atomic_write(cache, lambda file: np.savez(file, n=n, mean=pca.mean_, components=pca.components_))
    projection = Projection(pca.mean_, pca.components_, n)
    return (projection.apply(vectors) if apply else None), projection


def apply_projection(vectors: np.ndarray, cache: Path, components: int) -> np.ndarray:
    """Project new vectors (a test split) with the projection saved in ``cache``."""
    if not components or not cache.exists():
        return np.asarray(vectors, dtype=np.float32)
    saved = np.load(cache)
    return _apply(vectors, saved["mean"], saved["components"])


BLOCK_ROWS = 16_384


def _apply(vectors: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    return apply_pca(vectors, mean, components)


def apply_pca(vectors: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``(vectors - mean) @ components.T`` as float32, the same bits for a row whatever rows come with it.

    Accumulated in float64 and rounded once: a float32 product's last bits depend on how BLAS
    blocks the whole matrix, so a row projected alone (a shard on Ray, the labeled rows) would
    differ from the same row projected with the pool, and the head trained on it with them.
    In blocks of rows, to bound the float64 copy.
    """
    if not hasattr(vectors, "shape"):  # a list; arrays and a store's lazy rows are read block by block
        vectors = np.asarray(vectors)
    out = np.empty((vectors.shape[0], components.shape[0]), dtype=np.float32)
    mean64, components64 = mean.astype(np.float64), components.T.astype(np.float64)
    for start in range(0, vectors.shape[0], BLOCK_ROWS):
        block = vectors[start : start + BLOCK_ROWS].astype(np.float64) - mean64
        out[start : start + BLOCK_ROWS] = block @ components64
    return out
