"""Checks at the boundary of every strategy: the shape conventions of labelwise.

Conventions (after baal): ``probs`` is ``(n, k)``, one row per pool item, rows sum to 1;
``samples`` is ``(m, n, k)``, m committee members or Monte-Carlo draws of ``probs``;
``embeddings`` is ``(n, d)``.
"""

from __future__ import annotations

import numpy as np

from labelwise.arrays import row_sums

ROW_SUM_TOLERANCE = 1e-4


def _as_float(array: np.ndarray, name: str) -> np.ndarray:
    # Checked before converting: astype on strings would fail without naming the array.
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise ValueError(f"{name}: expected numbers, got dtype {array.dtype}")
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def _check_values(array: np.ndarray, name: str) -> None:
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or inf")
    if (array < 0).any():
        raise ValueError(f"{name}: contains negative probabilities")
    if array.shape[-1] < 2:
        raise ValueError(f"{name}: needs at least 2 classes, got k={array.shape[-1]}")
    sums = row_sums(array)
    if array.size and np.abs(sums - 1).max() > ROW_SUM_TOLERANCE:
        worst = np.unravel_index(np.abs(sums - 1).argmax(), sums.shape)
        raise ValueError(
            f"{name}: rows must sum to 1 within {ROW_SUM_TOLERANCE}; row {tuple(map(int, worst))} sums to "
            f"{float(sums[worst]):.6f}"
        )


def check_probs(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    """Return ``probs`` as a floating array of shape ``(n, k)`` or raise ``ValueError`` saying why."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"{name}: expected shape (n, k), got {probs.ndim} dimension(s) {probs.shape}")
    probs = _as_float(probs, name)
    _check_values(probs, name)
    return probs


def check_samples(samples: np.ndarray, name: str = "samples") -> np.ndarray:
    """Return ``samples`` as a floating array of shape ``(m, n, k)`` or raise ``ValueError`` saying why."""
    samples = np.asarray(samples)
    if samples.ndim != 3:
        raise ValueError(f"{name}: expected shape (m, n, k), got {samples.ndim} dimension(s) {samples.shape}")
    if samples.shape[0] < 1:
        raise ValueError(f"{name}: needs at least one member (m >= 1)")
    samples = _as_float(samples, name)
    _check_values(samples, name)
    return samples
