"""The strategies labelwise ships, registered by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelwise.strategies import uncertainty
from labelwise.strategies.auto import auto_label, auto_phase, auto_select
from labelwise.strategies.diversity import kcenter_select, probcover_select, typiclust_select
from labelwise.strategies.hybrid import badge_select, cluster_margin_select
from labelwise.strategies.registry import PoolView, ScoreFn, Strategy, register


def _probs_score(fn: Callable[[np.ndarray], np.ndarray]) -> ScoreFn:
    return lambda view, seed: fn(view.probs)


def _samples_score(fn: Callable[[np.ndarray], np.ndarray]) -> ScoreFn:
    return lambda view, seed: fn(view.samples)


def _random(view: PoolView, seed: int | None) -> np.ndarray:
    return uncertainty.random_scores(view.size, seed)


PROBS, SAMPLES, EMBEDDINGS = frozenset({"probs"}), frozenset({"samples"}), frozenset({"embeddings"})

for strategy in (
    Strategy("random", "uniform random sampling: the honest baseline", score=_random),
    Strategy("least-confidence", "1 - max probability", PROBS, score=_probs_score(uncertainty.least_confidence)),
    Strategy("margin", "1 - gap between the two most likely classes", PROBS, score=_probs_score(uncertainty.margin)),
    Strategy("entropy", "entropy of the predicted distribution", PROBS, score=_probs_score(uncertainty.entropy)),
    Strategy("variance", "committee disagreement: mean per-class variance", SAMPLES,
             score=_samples_score(uncertainty.variance)),
    Strategy("bald", "mutual information between prediction and model (committee)", SAMPLES,
             score=_samples_score(uncertainty.bald)),
    Strategy("typiclust", "most typical item of each uncovered cluster (few labels)", EMBEDDINGS,
             select=typiclust_select, uses_typicality=True),
    Strategy("probcover", "greedy coverage of pure delta-balls (few labels)", EMBEDDINGS, select=probcover_select),
    Strategy("kcenter", "core-set: farthest item from everything labeled", EMBEDDINGS, select=kcenter_select),
    Strategy("badge", "k-means++ over gradient embeddings: uncertain and diverse", PROBS | EMBEDDINGS,
             select=badge_select),
    Strategy("cluster-margin", "lowest margins, one per cluster", PROBS | EMBEDDINGS, select=cluster_margin_select,
             uses_clusters=True),
    Strategy("auto", "chooses per round: typicality with few labels, then diverse uncertainty", EMBEDDINGS,
             select=auto_select, describe=auto_label, uses_clusters=True,
             uses_typicality=lambda view: auto_phase(view) == "typiclust"),
):  # fmt: skip
    register(strategy)
