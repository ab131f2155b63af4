"""The one place in ``labelwise.project`` that builds the active-learning loop and ranks a pool.

``labelwise suggest``, the server's retraining (:func:`labelwise.project.training.train_and_rank`)
and ``suggest --ray`` (:mod:`labelwise.project.ray_rank`, which trains the loop here and scores
elsewhere) all build their loop with :func:`make_loop`: the same head (the project's ``head``
setting), strategy, candidate subset, explore share and seed, so what ``suggest`` prints is what
the server would serve first on the same labels (and both are :func:`labelwise.loop.ranking.rank_pool`,
which the simulator calls too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.learn.choose import make_head
from labelwise.loop import ActiveLoop
from labelwise.loop.ranking import RankedQueue, rank_pool
from labelwise.project.pool import Pool


@dataclass(frozen=True)
class RankedImage:
    """One chosen image, in serving order."""

    image_id: int
    path: str
    score: float | None  # the score that ranked it (scoring strategies), else None
    top: list[tuple[str, float]]  # the model's top classes with their probabilities; empty without a model
    batch: int  # 1: labeled before the next retrain, then 2, 3, ...
    strategy: str  # what chose it, e.g. "margin", "random (cold start)", "explore: random"
    audit: bool  # drawn uniformly to measure the model


@dataclass(frozen=True)
class PoolRanking:
    images: list[RankedImage]
    strategy: str  # what chose batch 1
    head: str | None  # the head whose probabilities ranked the pool; None without a model (cold start)
    head_reason: str | None
    n_labeled: int
    n_unlabeled: int
    loop: ActiveLoop  # trained: its model, cross-validation and clusters, for the caller's records
    queue: RankedQueue  # the view it ranked on (probabilities) and the pool's scores


def make_loop(
    X: np.ndarray,
    n_classes: int,
    *,
    strategy: str,
    head: str,
    candidates: int | None,
    explore: float,
    seed: int,
    audit_fraction: float = 0.0,
    first_round: int = 0,
    pool_clusters: np.ndarray | None = None,
    pool_typicality: np.ndarray | None = None,
) -> ActiveLoop:
    """The loop over ``X`` (``(N, d)``) with the project's choices; ``head`` by name (``auto``,
    ``logistic``, ``label-spreading``, ``self-training``)."""
    return ActiveLoop(
        X, n_classes, strategy=strategy,
        head=make_head(head, list(range(n_classes)), random_state=seed, strategy=strategy),
        candidates=candidates, explore=explore, estimate_accuracy=False, audit_fraction=audit_fraction, seed=seed,
        first_round=first_round, pool_clusters=pool_clusters, pool_typicality=pool_typicality,
    )  # fmt: skip


def rank_images(
    pool: Pool,
    *,
    strategy: str,
    head: str,
    candidates: int | None,
    explore: float,
    seed: int,
    batch_size: int,
    queue_size: int,
    audit_fraction: float = 0.0,
    first_round: int = 0,
    pool_clusters: np.ndarray | None = None,
    pool_typicality: np.ndarray | None = None,
    exact_batches: int | None = None,
) -> PoolRanking:
    """Train on the pool's labels, score it, and choose up to ``queue_size`` images as successive
    batches of ``batch_size`` (:func:`labelwise.loop.ranking.build_queue`), with their scores and
    top classes. Below two labeled classes the loop's cold-start strategy chooses, without a model."""
    loop = make_loop(pool.X, len(pool.class_names), strategy=strategy, head=head, candidates=candidates,
                     explore=explore, seed=seed, audit_fraction=audit_fraction, first_round=first_round,
                     pool_clusters=pool_clusters, pool_typicality=pool_typicality)  # fmt: skip
    labeled = np.flatnonzero(pool.labels >= 0)
    loop.teach(labeled, pool.labels[labeled])
    unlabeled = int(pool.X.shape[0] - labeled.size)
    queue = rank_pool(loop, batch_size=batch_size, queue_size=queue_size, exact_batches=exact_batches)
    images = [
        RankedImage(image_id=int(pool.image_ids[p.index]), path=pool.paths[p.index], score=p.score,
                    top=[(pool.class_names[k], prob) for k, prob in p.top], batch=p.batch, strategy=p.strategy,
                    audit=p.audit)
        for p in queue.picks
    ]  # fmt: skip
    choice = loop.head_choice if loop.model is not None else {"head": None, "reason": None}
    return PoolRanking(images=images, strategy=queue.strategy, head=choice["head"], head_reason=choice["reason"],
                       n_labeled=int(labeled.size), n_unlabeled=unlabeled, loop=loop, queue=queue)  # fmt: skip


@dataclass(frozen=True)
class MultiLabelPoolRanking:
    """A multi-label project's ranking: the chosen images and the model's ``(N, K)`` probabilities."""

    images: list[RankedImage]
    strategy: str  # the multi-label strategy, or "random (cold start)" without a label yet
    probs: np.ndarray | None  # (N, K) independent class probabilities; None without a model
    scores: np.ndarray | None  # (N,) the strategy's score of every pool image; None without a model
    n_labeled: int
    n_unlabeled: int


def rank_multilabel_images(
    pool: Pool,
    Y: np.ndarray,
    labeled: np.ndarray,
    *,
    strategy: str,
    candidates: int | None,
    explore: float,
    seed: int,
    batch_size: int,
    queue_size: int,
) -> MultiLabelPoolRanking:
    """Train :class:`~labelwise.learn.multilabel.MultiLabelHead` on the labeled rows of ``Y``
    (``(N, K)`` in {0, 1}; ``labeled`` ``(N,)`` bool) and rank the unlabeled pool with the multi-label
    ``strategy`` (:mod:`labelwise.strategies.multilabel`). Scores of independent binary heads do not
    change within a retrain batch, so the queue is the top ``queue_size`` at once, cut into batches
    of ``batch_size``. Without any label yet the images are drawn at random."""
    from labelwise.learn.multilabel import MultiLabelHead
    from labelwise.strategies.multilabel import get_multilabel_strategy

    chosen = get_multilabel_strategy(strategy)  # a single-label name is refused here, with why
    n_classes = len(pool.class_names)
    unlabeled = int(labeled.size - np.count_nonzero(labeled))
    probs = scores = None
    if labeled.any():
        model = MultiLabelHead(classes=list(range(n_classes))).fit(pool.X[labeled], Y[labeled])
        probs = model.predict_proba(pool.X)
        name = chosen.name
    else:
        chosen, name = get_multilabel_strategy("random"), "random (cold start)"
    # Without a model, random ranks a flat 0.5 (it reads nothing but the row count).
    ranked_on = probs if probs is not None else np.full((labeled.size, n_classes), 0.5)
    picks: list[tuple[int, bool]] = []
    if unlabeled and queue_size > 0:
        n = min(queue_size, unlabeled)
        # Every input a strategy may need (chosen.needs): the labeled rows' label sets and the features
        # the head was trained on, so each registered multi-label strategy can serve.
        selection = chosen.rank(ranked_on, labeled, n, seed=seed, candidates=candidates, explore=explore,
                                embeddings=pool.X, labels=Y[labeled] if probs is not None else None)  # fmt: skip
        picks = list(zip(selection.indices.tolist(), selection.explored.tolist(), strict=True))
        scores = selection.scores if probs is not None else None
    elif probs is not None:
        scores = chosen.score(chosen.view(probs, labeled, pool.X, Y[labeled]), seed) if chosen.score else None
    images = []
    for k, (index, explored) in enumerate(picks):
        top = [] if probs is None else [(pool.class_names[c], float(probs[index, c]))
                                        for c in np.argsort(-probs[index])[:3]]  # fmt: skip
        images.append(RankedImage(
            image_id=int(pool.image_ids[index]), path=pool.paths[index],
            score=None if scores is None else float(scores[index]), top=top, batch=1 + k // max(1, batch_size),
            strategy="explore: random" if explored else name, audit=False,
        ))  # fmt: skip
    return MultiLabelPoolRanking(images=images, strategy=name, probs=probs, scores=scores,
                                 n_labeled=int(labeled.size - unlabeled), n_unlabeled=unlabeled)  # fmt: skip
