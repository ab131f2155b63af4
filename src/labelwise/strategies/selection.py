"""From scores to a batch: top-n ranking with an explore/exploit control.

``candidates`` ranks only a random subset of the pool (the whole pool by default; Hasty's tool
ranks a fixed 100, which under-explores huge pools). ``explore`` is the fraction of the batch drawn
uniformly at random from the rest of the pool, so that the model keeps seeing images its own
uncertainty would never point at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.errors import EmptyPoolError


@dataclass(frozen=True)
class Selection:
    """A chosen batch with what chose it, so that nothing has to score the pool a second time.

    indices: ``(n,)`` chosen pool indices, most informative first, random explorers last.
    scores: ``(N,)`` the score of every pool item for scoring strategies, ``None`` for set strategies.
    explored: ``(n,)`` bool, ``True`` for the picks drawn uniformly at random (the explore share,
        and random fill when a set strategy runs out of informative items).
    """

    indices: np.ndarray
    scores: np.ndarray | None = None
    explored: np.ndarray | None = None

    def __post_init__(self) -> None:
        indices = np.asarray(self.indices, dtype=np.intp)
        object.__setattr__(self, "indices", indices)
        explored = np.zeros(indices.size, dtype=bool) if self.explored is None else np.asarray(self.explored, bool)
        if explored.shape != indices.shape:
            raise ValueError(f"explored: expected shape {indices.shape}, got {explored.shape}")
        object.__setattr__(self, "explored", explored)

    @classmethod
    def of(cls, exploit: np.ndarray, explorers: np.ndarray, scores: np.ndarray | None = None) -> Selection:
        """The picks ``exploit`` followed by the random ``explorers``."""
        flags = np.concatenate([np.zeros(len(exploit), dtype=bool), np.ones(len(explorers), dtype=bool)])
        return cls(np.concatenate([exploit, explorers]).astype(np.intp), scores, flags)


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


def random_argmax(values: np.ndarray, rng: np.random.Generator) -> int:
    """Position of the largest of ``values``; among equal maxima, one drawn from ``rng``.

    ``argmax`` would take the first, and pools are ingested in path order (one folder per class,
    camera or day), so a greedy choice that ties would serve the first folders first.
    """
    ties = np.flatnonzero(values == values.max())
    return int(ties[0] if ties.size == 1 else ties[rng.integers(ties.size)])


def check_batch_controls(n: int, explore: float, candidates: int | None) -> None:
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    if not 0.0 <= explore <= 1.0:
        raise ValueError(f"explore: must be in [0, 1], got {explore}")
    if candidates is not None and candidates < 1:
        raise ValueError(f"candidates: must be >= 1 or None, got {candidates}")


def candidate_subset(pool: np.ndarray, candidates: int | None, rng: np.random.Generator) -> np.ndarray:
    """All of ``pool``, or a sorted random subset of ``candidates`` of its indices."""
    if candidates is None or candidates >= pool.size:
        return pool
    return np.sort(rng.choice(pool, size=candidates, replace=False))


def add_explorers(chosen: np.ndarray, pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``chosen`` followed by random items of ``pool`` not in it, up to ``n`` in all."""
    missing = n - chosen.size
    if missing <= 0:
        return chosen
    rest = np.setdiff1d(pool, chosen, assume_unique=True)
    return np.concatenate([chosen, rng.choice(rest, size=min(missing, rest.size), replace=False)])


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
    exploit, explorers = select_top_split(
        scores, n, selectable=selectable, candidates=candidates, explore=explore, seed=seed
    )
    return np.concatenate([exploit, explorers])


def select_top_split(
    scores: np.ndarray,
    n: int,
    *,
    selectable: np.ndarray | None = None,
    candidates: int | None = None,
    explore: float = 0.0,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`select_top` in its two parts: the best-scored picks, and the random explorers after them."""
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores: expected shape (N,), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores: contains NaN or inf")
    check_batch_controls(n, explore, candidates)
    if selectable is None:
        selectable = np.ones(scores.shape[0], dtype=bool)
    elif np.shape(selectable) != scores.shape:
        raise ValueError(f"selectable: expected shape {scores.shape}, got {np.shape(selectable)}")
    pool = selectable_indices(selectable)
    rng = np.random.default_rng(seed)
    n = min(n, pool.size)
    ranked = candidate_subset(pool, candidates, rng)
    exploit = ranked[top_k(scores[ranked], n - round(explore * n), rng)]
    return exploit, add_explorers(exploit, pool, n, rng)[exploit.size :]
