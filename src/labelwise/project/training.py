"""Retrain the head on the project's labels, rank the pool, and record a model version.

The ranking is what the queue serves, in order: the next ``queue_size`` images as the strategy's
successive batches of what is labeled between two retrains (``retrain_every`` per person holding a
lease), each with why it was chosen (:mod:`labelwise.loop.ranking`). It is saved atomically next to the models, so a
restarted server serves the last ranking at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import distinct, func, select

from labelwise.errors import LabelwiseError
from labelwise.loop import (
    LabelBudget,
    LowUncertainty,
    RoundRecord,
    StabilizingPredictions,
    TargetMetric,
)
from labelwise.loop.audit import AccuracyEstimate
from labelwise.paths import atomic_write
from labelwise.project.pool import PoolCache, load_pool, stop_set
from labelwise.project.project import Project
from labelwise.project.rank import rank_images
from labelwise.store.models import Lease, ModelVersion, utcnow
from labelwise.strategies.uncertainty import least_confidence

# Set strategies build this many batches one by one, then the rest of the queue at once: each
# batch is a full call (seconds at 10,000 images, see benchmarks/bench_queue.py), and a retrain
# lands long before a team labels 4 batches.
EXACT_BATCHES = 4
STOP_SET_SIZE = 2000  # the images with the smallest random keys: a sample of the pool, stable as it grows


@dataclass
class QueueEntry:
    image_id: int
    score: float | None
    top: list[tuple[str, float]] = field(default_factory=list)  # the model's top 3 classes
    batch: int = 1  # which retrain batch of the queue (1 = labeled before the next retrain)
    strategy: str | None = None  # what chose this image; None in rankings saved before it was recorded
    audit: bool = False  # drawn at random from the pool to measure the model, not by the strategy


@dataclass
class Ranking:
    version: int | None
    strategy: str
    entries: list[QueueEntry]
    created_at: float = field(default_factory=time.time)
    head: str | None = None  # the head whose probabilities ranked the pool; None in rankings saved before
    head_reason: str | None = None  # why it serves (auto: the cross-validation that chose it)
    note: str | None = None  # where it was ranked when ray_address is set (project/ray_rank.py), else None

    # Read by every queue request: made once per ranking (its entries never change once it is built).
    @cached_property
    def by_image(self) -> dict[int, QueueEntry]:
        return {e.image_id: e for e in self.entries}

    @cached_property
    def position(self) -> dict[int, int]:
        return {e.image_id: k for k, e in enumerate(self.entries)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Field by field, not dataclasses.asdict: its recursive deep copy of 500 entries took 60-200 ms
        # of the retrain's hand-over (100,000 images); the JSON is the same.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["entries"] = [{f.name: getattr(e, f.name) for f in fields(QueueEntry)} for e in self.entries]
        atomic_write(path, lambda file: file.write(json.dumps(data).encode()))

    @classmethod
    def load(cls, path: Path) -> Ranking | None:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        entries = [
            QueueEntry(e["image_id"], e["score"], [tuple(t) for t in e["top"]], batch=e.get("batch", 1),
                       strategy=e.get("strategy"), audit=e.get("audit", False))
            for e in data["entries"]
        ]  # fmt: skip
        return cls(data["version"], data["strategy"], entries, data["created_at"], data.get("head"),
                   data.get("head_reason"), data.get("note"))  # fmt: skip


def ranking_path(project: Project) -> Path:
    return project.folder / "models" / "ranking.json"


def history_path(project: Project) -> Path:
    return project.folder / "models" / "history.json"


def load_history(project: Project) -> list[RoundRecord]:
    try:
        raw = json.loads(history_path(project).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [
        RoundRecord(r["round"], r["n_labeled"], r["strategy"], r["metrics"], None,
                    np.array(r["stop_predictions"]) if r["stop_predictions"] is not None else None,
                    r["pool_uncertainty"])
        for r in raw
    ]  # fmt: skip


def _save_history(project: Project, history: list[RoundRecord]) -> None:
    path = history_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [
        {"round": r.round, "n_labeled": r.n_labeled, "strategy": r.strategy, "metrics": r.metrics,
         "stop_predictions": None if r.stop_predictions is None else r.stop_predictions.tolist(),
         "pool_uncertainty": r.pool_uncertainty}
        for r in history[-20:]  # the stopping criteria look at the last few models only
    ]  # fmt: skip
    atomic_write(path, lambda file: file.write(json.dumps(data).encode()))


def stopping_status(
    settings: dict[str, Any],
    history: list[RoundRecord],
    audit: AccuracyEstimate | None = None,
    labeled_now: int | None = None,
) -> list[dict[str, Any]]:
    """Each configured stopping criterion, whether it is met, and why.

    audit: the newest model's audit estimate; target accuracy reads only its interval's lower end.
    labeled_now: the labels there are now. The label budget counts these, not the labels the last
    model was trained on (a retrain lags the labels: the budget read 258 while the dashboard
    showed 262 labeled).
    """
    if history:
        metrics = {k: v for k, v in history[-1].metrics.items() if not k.startswith("cv_")}
        if audit is not None:
            metrics["audit_accuracy_reason"] = audit.reason  # type: ignore[assignment]
            if audit.measured:
                metrics["audit_accuracy_low"] = audit.low  # type: ignore[assignment]
        history = [*history[:-1], replace(history[-1], metrics=metrics)]
    criteria = []
    if settings.get("stop_label_budget"):
        criteria.append(("label budget", LabelBudget(int(settings["stop_label_budget"]))))
    if settings.get("stop_target_accuracy"):
        criteria.append(("target accuracy", TargetMetric(float(settings["stop_target_accuracy"]))))
    criteria.append(("stabilizing predictions", StabilizingPredictions(kappa=float(settings["stop_kappa"]))))
    criteria.append(("low uncertainty", LowUncertainty(0.05)))
    budget_history = history
    if labeled_now is not None:
        budget_history = [*history[:-1], replace(history[-1], n_labeled=labeled_now)] if history else [
            RoundRecord(0, labeled_now, "")]  # fmt: skip
    out = []
    for name, criterion in criteria:
        decision = criterion.check(budget_history if isinstance(criterion, LabelBudget) else history)
        out.append({"name": name, "met": decision.met, "reason": decision.reason})
    return out


def live_annotators(project: Project) -> int:
    """How many people hold a live lease now: they label in parallel between two retrains."""
    now = utcnow()
    with project.sessions() as session:
        return int(
            session.scalar(
                select(func.count(distinct(Lease.user_id))).where(Lease.expires_at > now, Lease.done.is_(False))
            )
            or 0
        )


def labels_of_version(project: Project, version: int | None) -> int | None:
    """How many labels model ``version`` was trained on (``None``: no such version)."""
    with project.sessions() as session:
        return session.scalar(select(ModelVersion.n_labels).where(ModelVersion.id == version))


def retrains(project: Project) -> int:
    """How many models were trained: the server's round number, as the simulator counts rounds."""
    with project.sessions() as session:
        return int(session.scalar(select(func.count()).where(ModelVersion.status == "ok")) or 0)


def batch_size(project: Project, settings: dict[str, Any]) -> int:
    """Images labeled between two retrains: ``retrain_every`` for each person labeling (at least one)."""
    return int(settings["retrain_every"]) * max(1, live_annotators(project))


def train_and_rank(
    project: Project,
    settings: dict[str, Any],
    seed: int = 0,
    pool_cache: PoolCache | None = None,
    note: str | None = None,
) -> tuple[Ranking, dict[str, Any]]:
    """Train on the current labels, rank the pool; record the model version (or its failure).

    pool_cache: the pool kept by the caller between rounds (the training worker), updated here.
    note: saved with the ranking (where it was ranked: project/ray_rank.py), in its one write.
    """
    ranking, measure = rank_then_measure(project, settings, seed, pool_cache, note)
    return ranking, measure()


def rank_then_measure(
    project: Project,
    settings: dict[str, Any],
    seed: int = 0,
    pool_cache: PoolCache | None = None,
    note: str | None = None,
) -> tuple[Ranking, Callable[[], dict[str, Any]]]:
    """:func:`train_and_rank` in two steps: the ranking (saved, its model version recorded) at once,
    and ``measure()``, which saves the pool's predictions (the grid's), cross-validates the model,
    writes its accuracy on the version's row and the history, and returns what :func:`train_and_rank`
    returns. The training worker hands the
    ranking to the server before measuring: the estimate is only shown, and at 100,000 images with
    ``auto`` it was a third of a retrain (0.5 of 1.5 s)."""
    if project.multi_label:  # one binary head per class, a multi-label strategy
        from labelwise.project.multilabel_model import train_and_rank_multilabel

        ranking, info = train_and_rank_multilabel(project, settings, seed, pool_cache, note=note)
        return ranking, lambda: info
    start = time.perf_counter()
    pool = load_pool(project, pool_cache, votes=True)
    if len(pool.class_names) < 2:
        raise LabelwiseError("the project needs at least two classes before a model can be trained")
    unlabeled = int(np.count_nonzero(pool.labels < 0))
    ranked = rank_images(
        pool, strategy=settings["strategy"], head=settings.get("head", "auto"), candidates=settings["candidates"],
        explore=settings["explore"], seed=seed, batch_size=batch_size(project, settings),
        queue_size=min(settings["queue_size"], unlabeled), audit_fraction=settings["audit_fraction"],
        first_round=retrains(project), pool_clusters=None if pool_cache is None else pool_cache.clusters,
        pool_typicality=None if pool_cache is None else pool_cache.typicality,
        exact_batches=EXACT_BATCHES,
    )  # fmt: skip
    loop, labeled = ranked.loop, np.flatnonzero(pool.labels >= 0)
    view, scores = ranked.queue.view, ranked.queue.scores
    if pool_cache is not None:
        pool_cache.clusters = loop.pool_clusters  # made once per pool (if the strategy needed it), kept
        pool_cache.typicality = loop.pool_typicality
    entries = [
        QueueEntry(image.image_id, image.score, image.top, batch=image.batch, strategy=image.strategy,
                   audit=image.audit)
        for image in ranked.images
    ]  # fmt: skip
    stop_predictions = pool_uncertainty = None
    if view.probs is not None:
        stop_predictions = view.probs[stop_set(pool, STOP_SET_SIZE)].argmax(axis=1)
        if unlabeled:
            pool_uncertainty = float(least_confidence(view.probs[pool.labels < 0]).mean())
    with project.sessions.begin() as session:
        row = ModelVersion(status="ok", n_labels=int(labeled.size), strategy=loop.last_strategy,
                           seconds=time.perf_counter() - start)  # fmt: skip
        session.add(row)
        session.flush()
        version = row.id
    ranking = Ranking(version, loop.last_strategy, entries, head=ranked.head, head_reason=ranked.head_reason,
                      note=note)  # fmt: skip
    ranking.save(ranking_path(project))

    def measure() -> dict[str, Any]:
        if view.probs is not None:  # the grid's filters read it, the queue does not: after the hand-over too
            _save_predictions(project, pool.image_ids, view.probs, scores)
        cv = loop.cross_validated_accuracy() if loop.model is not None else {}
        metrics = {k: v for k, v in cv.items() if v == v}  # drop NaN
        with project.sessions.begin() as session:
            row = session.get(ModelVersion, version)
            row.accuracy, row.accuracy_sd = metrics.get("cv_accuracy"), metrics.get("cv_accuracy_sd")
        history = load_history(project)
        history.append(RoundRecord(len(history), int(labeled.size), loop.last_strategy, metrics, None,
                                   stop_predictions, pool_uncertainty))  # fmt: skip
        _save_history(project, history)
        return {"version": version, "n_labels": int(labeled.size), **metrics}

    return ranking, measure


def predictions_path(project: Project) -> Path:
    return project.folder / "models" / "predictions.npz"


def _save_predictions(project: Project, image_ids: np.ndarray, probs: np.ndarray, scores: np.ndarray | None) -> None:
    """Predicted class, confidence and score of every pool image, for the image grid's filters."""
    path = predictions_path(project)
    score = np.full(len(image_ids), np.nan) if scores is None else scores
    atomic_write(path, lambda file: np.savez(file, image_ids=image_ids, predicted=probs.argmax(axis=1),
                                             confidence=probs.max(axis=1), score=score))  # fmt: skip


def record_failure(project: Project, n_labels: int, strategy: str, error: str) -> None:
    with project.sessions.begin() as session:
        session.add(ModelVersion(status="failed", n_labels=n_labels, strategy=strategy, error=error))
