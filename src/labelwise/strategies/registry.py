"""Every strategy reachable by name, behind one small contract.

A strategy looks at a :class:`PoolView` (stored predictions and embeddings, never a model) and
returns the indices of a batch. Scoring strategies give one score per item and share
:func:`~labelwise.strategies.selection.select_top`; set strategies (diversity, coverage) choose
the batch as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from labelwise.errors import LabelwiseError, UnknownStrategyError
from labelwise.strategies.selection import (
    Selection,
    add_explorers,
    candidate_subset,
    check_batch_controls,
    select_top_split,
    selectable_indices,
)

INPUTS = ("probs", "samples", "embeddings")


@dataclass(frozen=True)
class PoolView:
    """What a strategy may look at, for a pool of ``N`` items.

    labeled: ``(N,)`` bool, ``True`` for items with a label.
    probs: ``(N, k)`` predicted probabilities, or ``None`` when there is no model yet.
    samples: ``(m, N, k)`` committee predictions, or ``None``.
    embeddings: ``(N, d)`` feature vectors, or ``None``.
    labels: ``(N,)`` int class indices, ``-1`` where unlabeled, or ``None``.
    n_classes: the project's number of classes, when known.
    clusters: ``(N,)`` int, a clustering of the pool that does not depend on the labels (computed once
        per pool and reused every round), or ``None``: a strategy that groups items clusters them itself.
    typicality: ``(N,)`` float, each item's typicality within its pool cluster (label-independent, computed
        once per pool with ``clusters``), or ``None``: TypiClust measures it per pick.
    """

    labeled: np.ndarray
    probs: np.ndarray | None = None
    samples: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    labels: np.ndarray | None = None
    n_classes: int | None = None
    clusters: np.ndarray | None = None
    typicality: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.labeled.shape[0])

    @property
    def selectable(self) -> np.ndarray:
        return ~np.asarray(self.labeled, dtype=bool)


ScoreFn = Callable[[PoolView, "int | None"], np.ndarray]
# select(view, n, rng, candidates) -> up to n distinct indices taken from candidates (selectable items),
# or a Selection when some of them are random picks
SelectFn = Callable[[PoolView, int, np.random.Generator, np.ndarray], "np.ndarray | Selection"]


@dataclass(frozen=True)
class Strategy:
    """A named query strategy. Exactly one of ``score`` and ``select`` is given."""

    name: str
    summary: str
    needs: frozenset[str] = field(default_factory=frozenset)
    score: ScoreFn | None = None
    select: SelectFn | None = None
    describe: Callable[[PoolView], str] | None = None  # what it does on this view, when that varies
    uses_clusters: bool = False  # reads ``PoolView.clusters`` when given (optional: it clusters itself otherwise)
    # reads ``PoolView.typicality`` (with ``clusters``) when given (optional); a function of the view when
    # that varies (auto reads it in its TypiClust phase only), so nobody measures it for nothing
    uses_typicality: bool | Callable[[PoolView], bool] = False

    def reads_typicality(self, view: PoolView) -> bool:
        return self.uses_typicality(view) if callable(self.uses_typicality) else self.uses_typicality

    def label(self, view: PoolView) -> str:
        """The name to record for a batch chosen on ``view``, e.g. ``auto: typiclust``."""
        return self.describe(view) if self.describe is not None else self.name

    def __post_init__(self) -> None:
        if (self.score is None) == (self.select is None):
            raise ValueError(f"strategy {self.name!r}: give exactly one of score and select")
        unknown = set(self.needs) - set(INPUTS)
        if unknown:
            raise ValueError(f"strategy {self.name!r}: unknown inputs {sorted(unknown)}")

    def check_inputs(self, view: PoolView) -> None:
        for needed in sorted(self.needs):
            if getattr(view, needed) is None:
                raise ValueError(f"strategy {self.name!r} needs {needed!r}, which the pool view lacks")

    def query(
        self,
        view: PoolView,
        n: int,
        *,
        seed: int | None = 0,
        candidates: int | None = None,
        explore: float = 0.0,
    ) -> np.ndarray:
        """Indices of up to ``n`` selectable items, most informative first."""
        return self.rank(view, n, seed=seed, candidates=candidates, explore=explore).indices

    def rank(
        self,
        view: PoolView,
        n: int,
        *,
        seed: int | None = 0,
        candidates: int | None = None,
        explore: float = 0.0,
        scores: np.ndarray | None = None,
    ) -> Selection:
        """Up to ``n`` selectable items, most informative first, with the scores that ranked them.

        scores: ``(N,)`` scores computed earlier on the same model (a scoring strategy's
            ``Selection.scores``), so that successive batches slice one scoring; set strategies
            ignore it.
        """
        self.check_inputs(view)
        if self.score is not None:
            if scores is None:
                scores = np.asarray(self.score(view, seed))
            exploit, explorers = select_top_split(
                scores, n, selectable=view.selectable, candidates=candidates, explore=explore, seed=seed
            )
            return Selection.of(exploit, explorers, scores)
        assert self.select is not None
        check_batch_controls(n, explore, candidates)
        pool = selectable_indices(view.selectable)
        rng = np.random.default_rng(seed)
        n = min(n, pool.size)
        ranked = candidate_subset(pool, candidates, rng)
        chosen = self.select(view, n - round(explore * n), rng, ranked)
        # A select function may flag its own random picks (auto's exploration share).
        inner = chosen if isinstance(chosen, Selection) else Selection(chosen)
        filled = add_explorers(inner.indices, pool, n, rng)[inner.indices.size :]
        return Selection(
            np.concatenate([inner.indices, filled]).astype(np.intp),
            None,
            np.concatenate([inner.explored, np.ones(filled.size, dtype=bool)]),
        )


class StrategyKindError(LabelwiseError, ValueError):
    """A single-label strategy asked for on multi-label data, or the other way round."""


S = TypeVar("S")


class StrategyRegistry(Generic[S]):
    """The strategies of one kind of task by name (single-label: :class:`Strategy`; multi-label:
    ``MultiLabelStrategy``). A name of the ``other`` kind is refused saying which kind it is, so that
    asking for one says more than "unknown".

    kind: "single-label" or "multi-label", as messages say it.
    assumes: why a strategy of this kind does not serve the other kind, said when it is asked for there.
    unknown: the error for a name of neither kind, given the name and this kind's names.
    shared: names of both kinds (``random``: the same baseline), which the other registry may take too.
    """

    def __init__(self, kind: str, unknown: Callable[[str, list[str]], LabelwiseError], *, assumes: str = "",
                 shared: frozenset[str] = frozenset({"random"})) -> None:  # fmt: skip
        self.kind = kind
        self.assumes = assumes
        self.unknown = unknown
        self.shared = shared
        self.by_name: dict[str, S] = {}
        self.other: StrategyRegistry | None = None

    def register(self, strategy: S, what: str = "strategy") -> S:
        """Add ``strategy``: its name must be new here, and not the other kind's unless shared."""
        name = strategy.name  # type: ignore[attr-defined]
        if name in self.by_name:
            raise ValueError(f"{what} {name!r} is already registered")
        if self.other is not None and name in self.other.by_name and name not in self.shared:
            raise ValueError(f"{what} {name!r}: the name is a {self.other.kind} strategy's")
        self.by_name[name] = strategy
        return strategy

    def get(self, name: str) -> S:
        """The strategy ``name``; :class:`StrategyKindError` for the other kind's, ``unknown`` else."""
        try:
            return self.by_name[name]
        except KeyError:
            other = self.other
            if other is not None and name in other.by_name:
                raise StrategyKindError(
                    f"strategy {name!r} is a {other.kind} strategy{other.assumes}; {self.kind} data needs one of: "
                    f"{', '.join(self.names())}"
                ) from None
            raise self.unknown(name, self.names()) from None

    def names(self) -> list[str]:
        return list(self.by_name)


SINGLE_LABEL: StrategyRegistry[Strategy] = StrategyRegistry(
    "single-label", UnknownStrategyError, assumes=" (it assumes one class per image)"
)
_REGISTRY = SINGLE_LABEL.by_name


def register(strategy: Strategy) -> Strategy:
    """Add a strategy to the registry; its name must be new."""
    return SINGLE_LABEL.register(strategy)


def get_strategy(name: str) -> Strategy:
    """The strategy registered under ``name``, or ``UnknownStrategyError`` listing the known ones.

    A name of another kind of task raises :class:`StrategyKindError` saying which kind it belongs to.
    """
    return SINGLE_LABEL.get(name)


def strategy_names() -> list[str]:
    return SINGLE_LABEL.names()
