"""From scores to a batch: top-n ranking with an explore/exploit control.

``candidates`` ranks only a random subset of the pool (the whole pool by default; Hasty's tool
ranks a fixed 100, which under-explores huge pools). ``explore`` is the fraction of the batch drawn
uniformly at random from the rest of the pool, so that the model keeps seeing images its own
uncertainty would never point at.
"""

from __future__ import annotations

import numpy as np

from labelwise.errors import EmptyPoolError


def selectable_indices(selectable: np.ndarray) -> np.ndarray:
    """Indices of the ``True`` entries of a boolean mask, or ``EmptyPoolError`` if there are none."""
    pool = np.flatnonzero(np.asarray(selectable, dtype=bool))
    if pool.size == 0:
        raise EmptyPoolError("the pool has no unlabeled item left to select")
    return pool


def top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` largest ``scores`` in descending order.

    Ties are broken by a random permutation drawn from ``rng``: deterministic for a seed, and
    without the bias toward low indices that a stable sort would have. O(n), no full sort.
    """
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    perm = rng.permutation(n)
    shuffled = scores[perm]
    kth = np.partition(shuffled, n - k)[n - k]  # the k-th largest value
    above = np.flatnonzero(shuffled > kth)
    tied = np.flatnonzero(shuffled == kth)[: k - above.size]
    chosen = np.concatenate([above, tied])
    # lexsort: last key is primary -> descending score, then position in the permutation.
    order = chosen[np.lexsort((chosen, -shuffled[chosen]))]
    return perm[order]


def select_top(
    scores: np.ndarray,
    n: int,
    *,
    selectable: np.ndarray | None = None,
    candidates: int | None = None,
    explore: float = 0.0,
    seed: int | None = 0,
) -> np.ndarray:
    """Indices of a batch of up to ``n`` selectable items: the best-scored first, then explorers.

    scores: ``(N,)`` informativeness, higher is better.
    selectable: ``(N,)`` bool, ``True`` where an item may be chosen (unlabeled, not leased);
        all items by default.
    candidates: rank only a random subset of this many selectable items; ``None`` ranks them all.
    explore: fraction in [0, 1] of the batch drawn uniformly from the selectable items not chosen.
    Returns at most ``n`` distinct indices; fewer when fewer are selectable.
    """
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores: expected shape (N,), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores: contains NaN or inf")
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    if not 0.0 <= explore <= 1.0:
        raise ValueError(f"explore: must be in [0, 1], got {explore}")
    if candidates is not None and candidates < 1:
        raise ValueError(f"candidates: must be >= 1 or None, got {candidates}")
    if selectable is None:
        selectable = np.ones(scores.shape[0], dtype=bool)
    elif np.shape(selectable) != scores.shape:
        raise ValueError(f"selectable: expected shape {scores.shape}, got {np.shape(selectable)}")
    pool = selectable_indices(selectable)
    rng = np.random.default_rng(seed)
    n = min(n, pool.size)
    n_explore = round(explore * n)
    ranked = pool
    if candidates is not None and candidates < pool.size:
        ranked = np.sort(rng.choice(pool, size=candidates, replace=False))
    exploit = ranked[top_k(scores[ranked], n - n_explore, rng)]
    missing = n - exploit.size
    if missing == 0:
        return exploit
    rest = np.setdiff1d(pool, exploit, assume_unique=True)
    explorers = rng.choice(rest, size=missing, replace=False)
    return np.concatenate([exploit, explorers])
