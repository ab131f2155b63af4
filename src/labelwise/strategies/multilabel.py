"""Multi-label strategies: informativeness over independent per-class probabilities. Higher is more informative.

Convention: ``probs`` is ``(N, K)``, column ``k`` the probability that class ``k`` is on the image;
rows do not sum to 1 (a single-label strategy would refuse them, and should: its formulas assume
one class per image). The formulas, with their references, are in
:mod:`labelwise.strategies.multilabel_scores` (scores) and :mod:`labelwise.strategies.multilabel_batch`
(batches). Registered here:

- ``random``: the baseline.
- ``mean-binary-entropy``, ``max-binary-uncertainty``: the two aggregations of per-class binary
  uncertainty Esuli & Sebastiani (ECIR 2009) compare (average over classes, most uncertain class).
- ``max-margin``: Li & Guo (IJCAI 2013), the gap between the least sure predicted-on class and the
  least sure predicted-off class; ``max-margin-cardinality`` multiplies it with their label
  cardinality inconsistency (needs the labeled items' label matrix).
- ``mmc``: Yang et al. (KDD 2009), maximum loss reduction with maximal confidence (needs the labels).
- ``cluster-max-uncertainty``: Cluster-Margin's batch diversity over ``max-binary-uncertainty``
  (needs embeddings); ``binary-badge``: BADGE over one-vs-rest gradients (needs embeddings).

Strategies that need more than the probabilities say so in ``needs`` ("embeddings": the features
the head is trained on, ``(N, d)``; "labels": the label matrix ``(m, K)`` of the labeled items, in
pool order) and refuse, naming the input, to rank without it.

They are registered apart from the single-label strategies: asking either registry for a name of
the other kind raises :class:`StrategyKindError` saying which kind the name belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from labelwise.strategies.multilabel_batch import binary_badge, cluster_round_robin
from labelwise.strategies.multilabel_scores import (
    check_binary_probs,
    check_labels,
    max_binary_uncertainty,
    max_margin_cardinality,
    max_margin_uncertainty,
    mean_binary_entropy,
    mmc_scores,
)
from labelwise.strategies.registry import SINGLE_LABEL, StrategyKindError, StrategyRegistry
from labelwise.strategies.selection import (
    Selection,
    add_explorers,
    candidate_subset,
    check_batch_controls,
    select_top_split,
    selectable_indices,
)
from labelwise.strategies.uncertainty import random_scores

__all__ = [
    "DEFAULT_MULTILABEL_STRATEGY",
    "MultiLabelStrategy",
    "MultiLabelView",
    "check_binary_probs",
    "get_multilabel_strategy",
    "max_binary_uncertainty",
    "mean_binary_entropy",
    "multilabel_strategy_names",
    "register_multilabel",
]

INPUTS = ("embeddings", "labels")
# The multi-label strategy to use when nobody chose one: with batches of 20, best or within 20 labels of the
# best on the three multi-label benchmark sets (fmnist-pairs on lite0 and on pixels, digits-pairs;
# docs/trust.md), and it needs the probabilities only, so any ranking that has them can use it.
DEFAULT_MULTILABEL_STRATEGY = "max-margin"


@dataclass(frozen=True)
class MultiLabelView:
    """What a multi-label strategy may look at, for a pool of ``N`` items.

    probs: ``(N, K)`` independent probabilities; labeled: ``(N,)`` bool, ``True`` where labeled;
    embeddings: ``(N, d)`` features, or ``None``; labels: ``(m, K)`` in {0, 1}, the label matrix of
    the ``m`` labeled items in pool order (``probs[labeled]`` row by row), or ``None``.
    """

    probs: np.ndarray
    labeled: np.ndarray
    embeddings: np.ndarray | None = None
    labels: np.ndarray | None = None


MultiLabelScoreFn = Callable[[MultiLabelView, "int | None"], np.ndarray]
# select(view, n, rng, candidates) -> up to n distinct indices taken from candidates (unlabeled items)
MultiLabelSelectFn = Callable[[MultiLabelView, int, np.random.Generator, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MultiLabelStrategy:
    """A named multi-label strategy: exactly one of a ``score`` per item or a batch ``select``."""

    name: str
    summary: str
    score: MultiLabelScoreFn | None = None
    select: MultiLabelSelectFn | None = None
    needs: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if (self.score is None) == (self.select is None):
            raise ValueError(f"multi-label strategy {self.name!r}: give exactly one of score and select")
        unknown = set(self.needs) - set(INPUTS)
        if unknown:
            raise ValueError(f"multi-label strategy {self.name!r}: unknown inputs {sorted(unknown)}")

    def view(
        self, probs: np.ndarray, labeled: np.ndarray, embeddings: np.ndarray | None, labels: np.ndarray | None
    ) -> MultiLabelView:
        """The checked view: shapes agree, and every input this strategy needs is there."""
        probs = check_binary_probs(probs)
        labeled = np.asarray(labeled, dtype=bool)
        if labeled.shape != (probs.shape[0],):
            raise ValueError(f"labeled: expected shape ({probs.shape[0]},), got {labeled.shape}")
        for needed, given in (("embeddings", embeddings), ("labels", labels)):
            if needed in self.needs and given is None:
                raise ValueError(f"multi-label strategy {self.name!r} needs {needed!r}, which was not given")
        if embeddings is not None:
            embeddings = np.asarray(embeddings)
            if embeddings.ndim != 2 or embeddings.shape[0] != probs.shape[0]:
                raise ValueError(f"embeddings: expected shape ({probs.shape[0]}, d), got {embeddings.shape}")
            if not np.isfinite(embeddings).all():
                raise ValueError("embeddings: contains NaN or inf")
        if labels is not None:
            labels = check_labels(labels, probs.shape[1])
            if labels.shape[0] != labeled.sum():
                raise ValueError(f"labels: {labels.shape[0]} rows against {int(labeled.sum())} labeled items")
        return MultiLabelView(probs, labeled, embeddings, labels)

    def rank(
        self,
        probs: np.ndarray,
        labeled: np.ndarray,
        n: int,
        *,
        seed: int | None = 0,
        candidates: int | None = None,
        explore: float = 0.0,
        embeddings: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> Selection:
        """Up to ``n`` unlabeled items, most informative first, with every item's score (``None`` for
        batch strategies).

        probs: ``(N, K)`` binary probabilities; labeled: ``(N,)`` bool, ``True`` where labeled;
        embeddings, labels: see :class:`MultiLabelView` (required where ``needs`` names them).
        """
        view = self.view(probs, labeled, embeddings, labels)
        if self.score is not None:
            scores = np.asarray(self.score(view, seed))
            exploit, explorers = select_top_split(
                scores, n, selectable=~view.labeled, candidates=candidates, explore=explore, seed=seed
            )
            return Selection.of(exploit, explorers, scores)
        assert self.select is not None
        check_batch_controls(n, explore, candidates)
        pool = selectable_indices(~view.labeled)
        rng = np.random.default_rng(seed)
        n = min(n, pool.size)
        chosen = np.asarray(self.select(view, n - round(explore * n), rng, candidate_subset(pool, candidates, rng)))
        filled = add_explorers(chosen, pool, n, rng)[chosen.size :]
        return Selection.of(chosen, filled)

    def query(
        self,
        probs: np.ndarray,
        labeled: np.ndarray,
        n: int,
        *,
        seed: int | None = 0,
        embeddings: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> np.ndarray:
        """Indices of up to ``n`` unlabeled items, most informative first."""
        return self.rank(probs, labeled, n, seed=seed, embeddings=embeddings, labels=labels).indices


def _unknown_multilabel(name: str, known: list[str]) -> StrategyKindError:
    return StrategyKindError(f"unknown multi-label strategy {name!r}; known: {', '.join(known)}")


MULTI_LABEL: StrategyRegistry[MultiLabelStrategy] = StrategyRegistry("multi-label", _unknown_multilabel)
MULTI_LABEL.other, SINGLE_LABEL.other = SINGLE_LABEL, MULTI_LABEL


def register_multilabel(strategy: MultiLabelStrategy) -> MultiLabelStrategy:
    """Add a multi-label strategy; its name must be new here, and new to the single-label registry
    unless it is ``random`` (the same baseline in both)."""
    return MULTI_LABEL.register(strategy, "multi-label strategy")


def multilabel_strategy_names() -> list[str]:
    return MULTI_LABEL.names()


def get_multilabel_strategy(name: str) -> MultiLabelStrategy:
    """The multi-label strategy ``name``; a single-label name gets :class:`StrategyKindError` saying so."""
    return MULTI_LABEL.get(name)


def _labels_needed(view: MultiLabelView) -> np.ndarray:
    assert view.labels is not None  # checked by MultiLabelStrategy.view
    return view.labels


def _embeddings_needed(view: MultiLabelView) -> np.ndarray:
    assert view.embeddings is not None  # checked by MultiLabelStrategy.view
    return view.embeddings


EMBEDDINGS, LABELS = frozenset({"embeddings"}), frozenset({"labels"})

for _strategy in (
    MultiLabelStrategy("random", "uniform random sampling: the honest baseline",
                       score=lambda v, seed: random_scores(v.probs.shape[0], seed)),
    MultiLabelStrategy("mean-binary-entropy", "binary entropy averaged over the classes",
                       score=lambda v, seed: mean_binary_entropy(v.probs)),
    MultiLabelStrategy("max-binary-uncertainty", "the class closest to p = 0.5 (1 - 2 min |p - 0.5|)",
                       score=lambda v, seed: max_binary_uncertainty(v.probs)),
    MultiLabelStrategy("max-margin", "smallest gap between predicted-on and predicted-off classes (Li & Guo 2013)",
                       score=lambda v, seed: max_margin_uncertainty(v.probs)),
    MultiLabelStrategy("max-margin-cardinality", "max-margin times label cardinality inconsistency (Li & Guo 2013)",
                       score=lambda v, seed: max_margin_cardinality(v.probs, _labels_needed(v)), needs=LABELS),
    MultiLabelStrategy("mmc", "expected loss reduction at the predicted number of classes (Yang et al. 2009)",
                       score=lambda v, seed: mmc_scores(v.probs, v.probs[v.labeled], _labels_needed(v)),
                       needs=LABELS),
    MultiLabelStrategy("cluster-max-uncertainty", "max-binary-uncertainty's top 10 n, one per k-means cluster",
                       select=lambda v, n, rng, cand: cluster_round_robin(
                           max_binary_uncertainty(v.probs), _embeddings_needed(v), n, rng, cand),
                       needs=EMBEDDINGS),
    MultiLabelStrategy("binary-badge", "k-means++ over one-vs-rest gradient embeddings (BADGE)",
                       select=lambda v, n, rng, cand: binary_badge(v.probs, _embeddings_needed(v), n, rng, cand),
                       needs=EMBEDDINGS),
):  # fmt: skip
    register_multilabel(_strategy)
