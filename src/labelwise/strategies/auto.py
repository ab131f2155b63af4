"""``auto``: the default strategy. It chooses per round from how many labels there are per class.

The rule, from the literature and from our measurements on Fashion-MNIST (docs/heuristics.md):

1. While there are fewer than ``TYPICAL_PHASE_LABELS_PER_CLASS`` labels per class (or no model),
   take TypiClust: with very few labels, uncertainty estimates are noise and the most typical
   image of each uncovered region teaches the most (Hacohen et al. 2022; on Fashion-MNIST it beat
   random by 15-20 points at 10-20 labels and stayed ahead up to 200).
2. After that, Cluster-Margin: low-margin images, one per cluster, so the batch is uncertain but
   not redundant (Citovsky et al. 2021), plus an exploration share of ``EXPLORE`` drawn at random,
   which keeps the model seeing regions its own uncertainty would ignore.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.diversity import typiclust_select
from labelwise.strategies.hybrid import cluster_margin_select
from labelwise.strategies.registry import PoolView
from labelwise.strategies.selection import Selection, add_explorers

TYPICAL_PHASE_LABELS_PER_CLASS = 20
EXPLORE = 0.1


def auto_phase(view: PoolView) -> str:
    """The strategy ``auto`` uses for this view: ``typiclust`` or ``cluster-margin``."""
    n_classes = view.n_classes or (view.probs.shape[1] if view.probs is not None else 10)
    n_labeled = int(np.count_nonzero(view.labeled))
    if view.probs is None or n_labeled < TYPICAL_PHASE_LABELS_PER_CLASS * n_classes:
        return "typiclust"
    return "cluster-margin"


def auto_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> Selection:
    if auto_phase(view) == "typiclust":
        return Selection(typiclust_select(view, n, rng, candidates))
    exploit = cluster_margin_select(view, n - round(EXPLORE * n), rng, candidates)
    return Selection.of(exploit, add_explorers(exploit, candidates, n, rng)[exploit.size :])
