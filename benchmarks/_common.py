"""Shared helpers of the benchmark scripts: synthetic pools, timing, tables."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def blobs(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 vectors in ``k`` overlapping Gaussian classes: learnable, like embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.35, size=(k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X += centres[y]
    return X, y


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def perturbed_copies(base: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` near-duplicates of 28x28 pictures in ``base``: each a random one shifted by up to 2 px, or a
    24-26 px crop of it put back at a random offset. Returns the copies and each one's source index."""
    src = rng.integers(0, len(base), n)
    copies = base[src].copy()
    for i in range(n):
        if rng.random() < 0.5:
            copies[i] = np.roll(copies[i], tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
        else:
            c = int(rng.integers(24, 27))
            r0, c0 = rng.integers(0, 28 - c + 1, 2)
            out = np.zeros_like(copies[i])
            o0, o1 = rng.integers(0, 28 - c + 1, 2)
            out[o0 : o0 + c, o1 : o1 + c] = copies[i][r0 : r0 + c, c0 : c0 + c]
            copies[i] = out
    return copies, src
