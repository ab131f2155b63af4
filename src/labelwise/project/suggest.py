"""Suggest the next images to label: train on the project's labels, rank the whole pool."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.learn.choose import head_names
from labelwise.project.pool import load_pool
from labelwise.project.project import Project
from labelwise.project.rank import rank_images
from labelwise.project.settings import get_settings
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
    head: str | None = None  # the head whose probabilities ranked them (the project's setting); None: no model


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
    head: str | None = None,
) -> Suggestions:
    """The ``n`` images to label next. ray: score the pool in shards on the Ray cluster at this
    address (:mod:`labelwise.project.ray_rank`): the same suggestions, for per-image strategies.
    head: the head to train (``None``: the project's ``head`` setting, as the server trains)."""
    if project.multi_label:
        if ray is not None:
            raise LabelwiseError("--ray: a multi-label project is ranked on this machine; leave --ray out")
        return _suggest_multilabel(project, n, strategy=strategy, candidates=candidates, explore=explore, seed=seed)
    if head is None:
        head = get_settings(project)["head"]
    elif head not in head_names():
        raise LabelwiseError(f"head: {head!r} is not one of {', '.join(head_names())}")
    if ray is not None:
        from labelwise.project.ray_rank import suggest_on_ray

        return suggest_on_ray(project, n, strategy=strategy, candidates=candidates, explore=explore, seed=seed,
                              address=ray, head=head)  # fmt: skip
    get_strategy(strategy)  # an unknown name is refused before the pool is loaded
    pool = load_pool(project, votes=True)  # what the server would train on
    check_classes(pool.class_names, pool.X.shape[0])
    # One batch of n: what the strategy would choose for n labels before the next retrain, with the
    # head the server uses (the project's setting).
    ranked = rank_images(pool, strategy=strategy, head=head, candidates=candidates,
                         explore=explore, seed=seed, batch_size=n, queue_size=n)  # fmt: skip
    items = [
        Suggestion(image.path, image.score, *(image.top[0] if image.top else (None, None))) for image in ranked.images
    ]
    note = ""
    if ranked.loop.model is None:
        seen = np.unique(pool.labels[pool.labels >= 0]).size
        note = (
            f"cold start: {seen} labeled class(es), a model needs two; "
            f"these images were picked by {ranked.strategy}, without a model"
        )
    return Suggestions(ranked.strategy, items, ranked.n_labeled, ranked.n_unlabeled, note, head=ranked.head)


def _suggest_multilabel(
    project: Project, n: int, *, strategy: str, candidates: int | None, explore: float, seed: int
) -> Suggestions:
    """A multi-label project: the server's ranking (project/multilabel_model.py); ``predicted`` is the
    set of classes at p >= 0.5 joined with ``;`` and ``probability`` is left empty (one per class)."""
    from labelwise.project.multilabel_model import rank_project

    ranked, _ = rank_project(project, {"candidates": candidates, "explore": explore, "strategy": strategy},
                             seed=seed, batch_size=n, queue_size=n)  # fmt: skip
    items = [
        Suggestion(image.path, image.score,
                   None if not image.top else ";".join(name for name, p in image.top if p >= 0.5), None)
        for image in ranked.images
    ]  # fmt: skip
    note = "" if ranked.probs is not None else "cold start: no label yet; these images were drawn at random"
    head = None if ranked.probs is None else "multi-label logistic (one-vs-rest)"
    return Suggestions(ranked.strategy, items, ranked.n_labeled, ranked.n_unlabeled, note, head=head)
