"""Multi-label strategies: pure scores over independent per-class probabilities. Higher is more informative.

Convention: ``probs`` is ``(n, K)``, column ``k`` the probability that class ``k`` is on the image;
rows do not sum to 1 (a single-label strategy would refuse them, and should: its formulas assume
one class per image).

Two aggregations of the per-class binary uncertainty, after Esuli & Sebastiani, "Active Learning
Strategies for Multi-Label Text Classification" (ECIR 2009), who compare averaging over classes
with taking the most uncertain class:

- ``mean-binary-entropy``: ``mean_k H2(p_k)``, ``H2(p) = -p log2 p - (1-p) log2 (1-p)``, in [0, 1].
  Rewards an image uncertain about many classes at once: one label answers all K binary questions.
- ``max-binary-uncertainty``: ``1 - 2 min_k |p_k - 0.5|``, in [0, 1]. The image whose most doubtful
  class sits closest to the decision threshold, the multi-label analogue of margin sampling.
- ``random``: the baseline.

They are registered apart from the single-label strategies: asking either registry for a name of
the other kind raises :class:`StrategyKindError` saying which kind the name belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labelwise.strategies.registry import StrategyKindError, note_other_kind, strategy_names
from labelwise.strategies.selection import Selection, select_top_split
from labelwise.strategies.uncertainty import random_scores


def check_binary_probs(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    """``probs`` as a float ``(n, K)`` array of independent probabilities in [0, 1], or ``ValueError``."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"{name}: expected shape (n, K), got {probs.ndim} dimension(s) {probs.shape}")
    if not np.issubdtype(probs.dtype, np.number) and probs.dtype != np.bool_:
        raise ValueError(f"{name}: expected numbers, got dtype {probs.dtype}")
    probs = probs if np.issubdtype(probs.dtype, np.floating) else probs.astype(np.float64)
    if probs.shape[1] < 1:
        raise ValueError(f"{name}: needs at least one class column")
    if not np.isfinite(probs).all():
        raise ValueError(f"{name}: contains NaN or inf")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(f"{name}: probabilities must lie in [0, 1], found [{probs.min():.4g}, {probs.max():.4g}]")
    return probs


def mean_binary_entropy(probs: np.ndarray) -> np.ndarray:
    """``mean_k H2(p_k)`` in bits, ``0 log 0 = 0``; ``probs`` ``(n, K)`` -> ``(n,)`` in [0, 1]."""
    p = check_binary_probs(probs)
    tiny = np.finfo(p.dtype).tiny
    h = -(p * np.log2(np.maximum(p, tiny)) + (1 - p) * np.log2(np.maximum(1 - p, tiny)))
    return h.mean(axis=1)


def max_binary_uncertainty(probs: np.ndarray) -> np.ndarray:
    """``1 - 2 min_k |p_k - 0.5|``; ``probs`` ``(n, K)`` -> ``(n,)`` in [0, 1], 1 when some ``p_k = 0.5``."""
    p = check_binary_probs(probs)
    return 1.0 - 2.0 * np.abs(p - 0.5).min(axis=1)


MultiLabelScoreFn = Callable[[np.ndarray, "int | None"], np.ndarray]


@dataclass(frozen=True)
class MultiLabelStrategy:
    """A named multi-label strategy: a score over ``(n, K)`` binary probabilities."""

    name: str
    summary: str
    score: MultiLabelScoreFn

    def rank(
        self,
        probs: np.ndarray,
        labeled: np.ndarray,
        n: int,
        *,
        seed: int | None = 0,
        candidates: int | None = None,
        explore: float = 0.0,
    ) -> Selection:
        """Up to ``n`` unlabeled items, most informative first, with every item's score.

        probs: ``(N, K)`` binary probabilities; labeled: ``(N,)`` bool, ``True`` where labeled.
        """
        probs = check_binary_probs(probs)
        labeled = np.asarray(labeled, dtype=bool)
        if labeled.shape != (probs.shape[0],):
            raise ValueError(f"labeled: expected shape ({probs.shape[0]},), got {labeled.shape}")
        scores = np.asarray(self.score(probs, seed))
        exploit, explorers = select_top_split(
            scores, n, selectable=~labeled, candidates=candidates, explore=explore, seed=seed
        )
        return Selection.of(exploit, explorers, scores)

    def query(self, probs: np.ndarray, labeled: np.ndarray, n: int, *, seed: int | None = 0) -> np.ndarray:
        """Indices of up to ``n`` unlabeled items, most informative first."""
        return self.rank(probs, labeled, n, seed=seed).indices


_MULTILABEL: dict[str, MultiLabelStrategy] = {}


def register_multilabel(strategy: MultiLabelStrategy) -> MultiLabelStrategy:
    """Add a multi-label strategy; its name must be new here, and new to the single-label registry
    unless it is ``random`` (the same baseline in both)."""
    if strategy.name in _MULTILABEL:
        raise ValueError(f"multi-label strategy {strategy.name!r} is already registered")
    if strategy.name in strategy_names() and strategy.name != "random":
        raise ValueError(f"multi-label strategy {strategy.name!r}: the name is a single-label strategy's")
    _MULTILABEL[strategy.name] = strategy
    if strategy.name != "random":
        note_other_kind(strategy.name, "multi-label")
    return strategy


def multilabel_strategy_names() -> list[str]:
    return list(_MULTILABEL)


def get_multilabel_strategy(name: str) -> MultiLabelStrategy:
    """The multi-label strategy ``name``; a single-label name gets :class:`StrategyKindError` saying so."""
    try:
        return _MULTILABEL[name]
    except KeyError:
        known = ", ".join(_MULTILABEL)
        if name in strategy_names():
            raise StrategyKindError(
                f"strategy {name!r} is a single-label strategy (it assumes one class per image); "
                f"multi-label data needs one of: {known}"
            ) from None
        raise StrategyKindError(f"unknown multi-label strategy {name!r}; known: {known}") from None


for _strategy in (
    MultiLabelStrategy("random", "uniform random sampling: the honest baseline",
                       lambda probs, seed: random_scores(probs.shape[0], seed)),
    MultiLabelStrategy("mean-binary-entropy", "binary entropy averaged over the classes",
                       lambda probs, seed: mean_binary_entropy(probs)),
    MultiLabelStrategy("max-binary-uncertainty", "the class closest to p = 0.5 (1 - 2 min |p - 0.5|)",
                       lambda probs, seed: max_binary_uncertainty(probs)),
):  # fmt: skip
    register_multilabel(_strategy)
