"""The one ranking pipeline: train on the labels, score the pool, build the queue as successive batches.

The server's retraining, ``labelwise suggest`` and the simulator all call :func:`rank_pool`, so what
a team is served is what the simulator measured. The queue is built as the batches the team labels
between two retrains: batch 1 is exactly what the strategy picks for a batch of ``batch_size`` on
the current labels (its explore share included); batch 2 is what it picks with batch 1 counted as
taken; and so on to ``queue_size``. Asking a set strategy for the whole queue at once would not do:
TypiClust asked for 200 makes 200 clusters and puts the densest first, so the first 10 served are
not the 10 it would choose.

Scoring strategies score the pool once; their batches are successive top slices of that scoring.
Set strategies (TypiClust, ProbCover, k-center, BADGE, Cluster-Margin, auto) are called once per
batch, with the earlier batches counted as labeled, as the simulator's next round would see them
(without the retrain).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from labelwise.errors import EmptyPoolError
from labelwise.loop.audit import add_audit_picks
from labelwise.strategies import PoolView, Selection, Strategy

if TYPE_CHECKING:
    from labelwise.loop.active_loop import ActiveLoop

EXPLORE_LABEL = "explore: random"
AUDIT_LABEL = "audit: random"
TOP_CLASSES = 3


@dataclass(frozen=True)
class Pick:
    """One image of the queue, in serving order."""

    index: int  # position in the pool
    score: float | None  # the score that ranked it (scoring strategies), else None
    batch: int  # 1 for the batch labeled before the next retrain, then 2, 3, ...
    strategy: str  # what chose it, e.g. "auto: typiclust", "margin (cold start)", "explore: random"
    top: tuple[tuple[int, float], ...] = ()  # the model's top classes: (class index, probability)
    audit: bool = False  # drawn uniformly from the pool to measure the model (labelwise.loop.audit)


@dataclass(frozen=True)
class RankedQueue:
    """The queue, the view it was built on, and the pool's scores (``None`` for set strategies)."""

    picks: list[Pick]
    strategy: str  # what chose batch 1: the label of this model version
    view: PoolView
    scores: np.ndarray | None

    @property
    def indices(self) -> np.ndarray:
        return np.array([p.index for p in self.picks], dtype=np.intp)

    def batch(self, number: int) -> list[Pick]:
        return [p for p in self.picks if p.batch == number]


def batch_seed(seed: int | None, batch: int) -> int | None:
    """Batch 1 uses ``seed`` itself, so it is exactly ``Strategy.query(view, n, seed=seed)``.

    Batch k uses ``seed + k - 1``: the seed of the simulator's round k - 1 rounds later (a round's
    seed is ``seed * 100_003 + round``), so a queue the team labels through before the next retrain
    lands draws as the simulator's next rounds do, with only the retrain missing.
    """
    if seed is None:
        return None
    return seed + batch - 1


def next_batch(
    strategy: Strategy,
    view: PoolView,
    taken: np.ndarray,
    n: int,
    *,
    seed: int | None,
    candidates: int | None,
    explore: float,
    scores: np.ndarray | None,
) -> Selection:
    """One batch of up to ``n`` items on ``view``, with the items of earlier batches (``taken``,
    ``(N,)`` bool) counted as labeled.

    The place where a batch can be amended before it is served (e.g. uniform audit picks replacing
    some of it): take the returned ``Selection`` and swap indices drawn from ``view.selectable & ~taken``.
    """
    if taken.any():
        # Set strategies read ``labeled`` for coverage (clusters with labels, covered balls,
        # distances to labeled items); scoring strategies only read what is selectable.
        view = replace(view, labeled=np.asarray(view.labeled, dtype=bool) | taken)
    return strategy.rank(view, n, seed=seed, candidates=candidates, explore=explore, scores=scores)


def build_queue(
    strategy: Strategy,
    view: PoolView,
    *,
    batch_size: int,
    queue_size: int,
    seed: int | None = 0,
    candidates: int | None = None,
    explore: float = 0.0,
    label_suffix: str = "",
    exact_batches: int | None = None,
    audit_fraction: float = 0.0,
) -> RankedQueue:
    """Up to ``queue_size`` selectable items as successive batches of ``batch_size``.

    label_suffix: appended to the strategy's label, e.g. ``" (cold start)"``.
    exact_batches: for set strategies, build this many batches one by one and the rest of the
        queue as one last batch (``None``: every batch one by one). Each batch of a set strategy
        is a full call (TypiClust: a k-means with one more cluster per item); the tail is served
        only when retraining falls that many batches behind the people labeling.
    audit_fraction: in every batch, this share (at least one) of the picks is replaced by picks
        drawn uniformly from the items still free (:func:`labelwise.loop.audit.add_audit_picks`).
    Raises ``EmptyPoolError`` when items are asked for and none is selectable.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    if queue_size < 0:
        raise ValueError(f"queue_size: must be >= 0, got {queue_size}")
    taken = np.zeros(view.size, dtype=bool)
    free = int(np.count_nonzero(view.selectable))
    if free == 0 and queue_size > 0:
        raise EmptyPoolError("the pool has no unlabeled item left to select")
    picks: list[Pick] = []
    scores: np.ndarray | None = None
    first_label = strategy.label(view) + label_suffix
    number = 0
    while len(picks) < min(queue_size, free):
        number += 1
        n = min(batch_size, queue_size - len(picks))
        if strategy.score is None and exact_batches is not None and number > exact_batches:
            n = queue_size - len(picks)
        try:
            chosen = next_batch(strategy, view, taken, n, seed=batch_seed(seed, number), candidates=candidates,
                                explore=explore, scores=scores)  # fmt: skip
        except EmptyPoolError:
            break
        if chosen.indices.size == 0:
            break
        scores = chosen.scores if scores is None else scores
        explored = dict(zip(chosen.indices.tolist(), chosen.explored.tolist(), strict=True))
        indices, is_audit = chosen.indices, np.zeros(chosen.indices.size, dtype=bool)
        if audit_fraction > 0:
            rng = np.random.default_rng([0 if seed is None else batch_seed(seed, number), 1])
            indices, is_audit = _with_audit_picks(indices, view.selectable & ~taken, batch_size, audit_fraction, rng)
        # auto's phase can change as earlier batches count as labels, so each batch says what chose it.
        label = first_label
        if number > 1:
            label = strategy.label(replace(view, labeled=view.labeled | taken)) + label_suffix
        for i, audit in zip(indices.tolist(), is_audit.tolist(), strict=True):
            chooser = AUDIT_LABEL if audit else EXPLORE_LABEL if explored.get(i) else label
            picks.append(
                Pick(i, None if scores is None else float(scores[i]), number, chooser, _top_classes(view, i), audit)
            )  # fmt: skip
        taken[indices] = True
    return RankedQueue(picks, first_label, view, scores)


def _with_audit_picks(
    indices: np.ndarray, free: np.ndarray, batch_size: int, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Audit picks in every ``batch_size`` block of ``indices`` (a set strategy's tail is one call
    but is labeled as several retrain batches). ``free``: ``(N,)`` bool, what may be drawn.
    An audit draw never repeats a pick of another block: those are taken out of the draw."""
    free = np.asarray(free, dtype=bool).copy()
    free[indices] = False
    parts, masks = [], []
    for start in range(0, indices.size, batch_size):
        block = indices[start : start + batch_size]
        free[block] = True  # the block's own picks stay drawable, so the draw is uniform over what is left
        out, mask = add_audit_picks(block, np.flatnonzero(free), fraction, rng)
        free[block] = False
        free[out] = False
        parts.append(out)
        masks.append(mask)
    if not parts:
        return indices, np.zeros(indices.size, dtype=bool)
    return np.concatenate(parts), np.concatenate(masks)


def _top_classes(view: PoolView, i: int) -> tuple[tuple[int, float], ...]:
    if view.probs is None:
        return ()
    order = np.argsort(-view.probs[i])[:TOP_CLASSES]
    return tuple((int(k), float(view.probs[i, k])) for k in order)


def rank_pool(
    loop: ActiveLoop,
    *,
    batch_size: int,
    queue_size: int,
    view: PoolView | None = None,
    exact_batches: int | None = None,
) -> RankedQueue:
    """Train ``loop``'s head on its labels (unless ``view`` from that training is given), score the
    pool and build the queue. Below two labeled classes the loop's cold-start strategy chooses.

    The seed is the loop's seed for this round, so a round's first batch is the same whoever asks.
    exact_batches: see :func:`build_queue`.
    """
    if view is None:
        loop.fit()
        view = loop.pool_view()
    strategy, suffix = loop.strategy, ""
    try:
        strategy.check_inputs(view)
    except ValueError:
        strategy, suffix = loop.cold_start, " (cold start)"
    queue = build_queue(strategy, view, batch_size=batch_size, queue_size=queue_size, seed=loop.round_seed,
                        candidates=loop.candidates, explore=loop.explore, label_suffix=suffix,
                        exact_batches=exact_batches, audit_fraction=loop.audit_fraction)  # fmt: skip
    loop.last_strategy = queue.strategy
    loop.last_selected = queue.indices
    return queue
