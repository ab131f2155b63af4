"""Training, ranking and suggestions of a multi-label project.

The server's retrain (:func:`labelwise.project.training.train_and_rank`) and ``labelwise suggest``
come here for a multi-label project: one-vs-rest binary heads
(:class:`~labelwise.learn.multilabel.MultiLabelHead`) on the projected embeddings, the pool ranked
by a multi-label strategy through :func:`labelwise.project.rank.rank_multilabel_images`, and the
``(N, K)`` probabilities saved next to the ranking.

What is not measured: a multi-label model has no audit estimate yet (the random audit picks and the
stored prediction are single-label), so the dashboard says "not measured" rather than show a
figure computed on the labels the model was trained on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.paths import atomic_write
from labelwise.project.multilabel_labels import current_label_sets, label_matrix
from labelwise.project.pool import PoolCache, load_pool
from labelwise.project.project import Project
from labelwise.project.rank import MultiLabelPoolRanking, rank_multilabel_images
from labelwise.store.models import ModelVersion
from labelwise.strategies.multilabel import (
    DEFAULT_MULTILABEL_STRATEGY,
    get_multilabel_strategy,
    multilabel_strategy_names,
)
from labelwise.strategies.registry import StrategyKindError

# The strategy the multi-label benchmark measured best (labelwise.strategies.multilabel: Li & Guo's
# max-margin reaches random's macro-F1 at 1,000 labels with 560 on fmnist-pairs; docs/trust.md).
DEFAULT_STRATEGY = DEFAULT_MULTILABEL_STRATEGY
HEAD_NAME = "multi-label logistic (one-vs-rest)"  # what the ranking and `suggest` say trained it
NOT_MEASURED = (
    "a multi-label model has no audit sample yet (its macro-F1 on its own training labels would flatter it, "
    "so none is shown)"
)


def strategy_for(setting: str) -> str:
    """The multi-label strategy the project's ``strategy`` setting names (``auto``: the default)."""
    return DEFAULT_STRATEGY if setting == "auto" else setting


def check_setting(key: str, value: Any) -> Any:
    """A multi-label project's own rules for a setting, before the common checks."""
    if key == "strategy" and value != "auto":
        try:
            get_multilabel_strategy(value)
        except StrategyKindError as exc:
            raise LabelwiseError(f"settings.strategy: this is a multi-label project; {exc}") from None
    if key == "head" and value not in ("auto", "logistic"):
        raise LabelwiseError(
            f"settings.head: a multi-label project trains one logistic head per class; {value!r} is single-label only"
        )
    if key == "overlap" and value not in (0, 0.0):
        raise LabelwiseError(
            "settings.overlap: not available on a multi-label project: votes and the disputed queue count one "
            "class per image; leave it at 0"
        )
    return value


def strategy_names_for(project: Project) -> list[str]:
    return ["auto", *multilabel_strategy_names()] if project.multi_label else []


def rank_project(
    project: Project, settings: dict[str, Any], *, seed: int, batch_size: int, queue_size: int | None,
    pool_cache: PoolCache | None = None, strategy: str | None = None,
) -> tuple[MultiLabelPoolRanking, np.ndarray]:  # fmt: skip
    """Load the pool and the label sets, train, rank; returns the ranking and the pool's image ids."""
    pool = load_pool(project, pool_cache)
    if len(pool.class_names) < 2:
        raise LabelwiseError("the project needs at least two classes before a model can be trained")
    with project.sessions() as session:
        sets = current_label_sets(session)
    labeled, Y = label_matrix(pool.image_ids, sets, len(pool.class_names))
    unlabeled = int(labeled.size - np.count_nonzero(labeled))
    ranked = rank_multilabel_images(
        pool, Y, labeled, strategy=strategy_for(strategy or settings["strategy"]), candidates=settings["candidates"],
        explore=settings["explore"], seed=seed, batch_size=batch_size,
        queue_size=unlabeled if queue_size is None else min(queue_size, unlabeled),
    )  # fmt: skip
    return ranked, pool.image_ids


def multilabel_predictions_path(project: Project) -> Path:
    return project.folder / "models" / "predictions-multilabel.npz"


def save_predictions(project: Project, image_ids: np.ndarray, probs: np.ndarray, scores: np.ndarray | None) -> None:
    """The ``(N, K)`` probabilities and each image's score, for exports of predictions and the grid."""
    path = multilabel_predictions_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    score = np.full(len(image_ids), np.nan) if scores is None else scores
    atomic_write(path, lambda file: np.savez(file, image_ids=image_ids, probs=probs, score=score))


def load_predictions(project: Project) -> dict[str, np.ndarray] | None:
    try:
        with np.load(multilabel_predictions_path(project)) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        return None


def train_and_rank_multilabel(project: Project, settings: dict[str, Any], seed: int = 0,
                              pool_cache: PoolCache | None = None, note: str | None = None):  # fmt: skip
    """The server's retrain of a multi-label project: the same records as a single-label retrain
    (a model version, the ranking file the queue serves), with the ``(N, K)`` probabilities saved.
    ``note``: said with the ranking (written once, with it, so the queue never loads it without)."""
    from labelwise.project.training import QueueEntry, Ranking, batch_size, ranking_path

    start = time.perf_counter()
    ranked, image_ids = rank_project(project, settings, seed=seed, batch_size=batch_size(project, settings),
                                     queue_size=settings["queue_size"], pool_cache=pool_cache)  # fmt: skip
    with project.sessions.begin() as session:
        row = ModelVersion(status="ok", n_labels=ranked.n_labeled, strategy=ranked.strategy,
                           seconds=time.perf_counter() - start)  # fmt: skip
        session.add(row)
        session.flush()
        version = row.id
    entries = [QueueEntry(i.image_id, i.score, i.top, batch=i.batch, strategy=i.strategy) for i in ranked.images]
    ranking = Ranking(version, ranked.strategy, entries, head=HEAD_NAME,
                      head_reason="one binary logistic head per class", note=note)  # fmt: skip
    if ranked.probs is not None:
        save_predictions(project, image_ids, ranked.probs, ranked.scores)
    ranking.save(ranking_path(project))
    return ranking, {"version": version, "n_labels": ranked.n_labeled}
