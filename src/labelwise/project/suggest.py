"""Suggest the next images to label: train on the project's labels, rank the whole pool."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.loop import ActiveLoop
from labelwise.loop.ranking import rank_pool
from labelwise.project.pool import load_pool
from labelwise.project.project import Project
from labelwise.strategies import get_strategy


@dataclass
class Suggestion:
    path: str
    score: float | None
    predicted: str | None
    probability: float | None


@dataclass
class Suggestions:
    strategy: str  # what chose them, e.g. "margin" or "random (cold start)"
    items: list[Suggestion]
    n_labeled: int
    n_unlabeled: int
    note: str = ""


def check_classes(class_names: list[str], n_images: int) -> None:
    if len(class_names) < 2:
        raise LabelwiseError(
            f"the project has {len(class_names)} class(es); give at least two "
            "(`labelwise classes add PROJECT NAME`, or `labelwise import-labels --add-classes` with new class names)"
        )
    if n_images == 0:
        raise LabelwiseError("the project has no usable image yet")


def suggest(
    project: Project,
    n: int = 20,
    *,
    strategy: str = "auto",
    candidates: int | None = None,
    explore: float = 0.0,
    seed: int = 0,
    ray: str | None = None,
) -> Suggestions:
    """The ``n`` images to label next. ray: score the pool in shards on the Ray cluster at this
    address (:mod:`labelwise.project.ray_rank`): the same suggestions, for per-image strategies."""
    if ray is not None:
        from labelwise.project.ray_rank import suggest_on_ray

        return suggest_on_ray(project, n, strategy=strategy, candidates=candidates, explore=explore, seed=seed,
                              address=ray)  # fmt: skip
    chosen = get_strategy(strategy)
    pool = load_pool(project)
    check_classes(pool.class_names, pool.X.shape[0])
    loop = ActiveLoop(pool.X, len(pool.class_names), strategy=chosen, candidates=candidates, explore=explore,
                      estimate_accuracy=False, seed=seed)  # fmt: skip
    labeled = np.flatnonzero(pool.labels >= 0)
    loop.teach(labeled, pool.labels[labeled])
    # One batch of n: what the strategy would choose for n labels before the next retrain.
    queue = rank_pool(loop, batch_size=n, queue_size=n)
    items = []
    for pick in queue.picks:
        predicted = probability = None
        if pick.top:
            k, probability = pick.top[0]
            predicted = pool.class_names[k]
        items.append(Suggestion(pool.paths[pick.index], pick.score, predicted, probability))
    note = ""
    if loop.model is None:
        seen = np.unique(pool.labels[labeled]).size
        note = (
            f"cold start: {seen} labeled class(es), a model needs two; "
            f"these images were picked by {loop.last_strategy}, without a model"
        )
    return Suggestions(loop.last_strategy, items, int(labeled.size), int(pool.X.shape[0] - labeled.size), note)
