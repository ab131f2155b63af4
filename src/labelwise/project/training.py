"""Retrain the head on the project's labels, rank the pool, and record a model version.

The ranking is what the queue serves: the next ``queue_size`` images chosen by the strategy, each
with why it was chosen. It is saved atomically next to the models, so a restarted server serves
the last ranking at once.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.loop import (
    ActiveLoop,
    LabelBudget,
    LowUncertainty,
    RoundRecord,
    StabilizingPredictions,
    TargetMetric,
)
from labelwise.project.pool import load_pool, stop_set
from labelwise.project.project import Project
from labelwise.store.models import ModelVersion
from labelwise.strategies import get_strategy
from labelwise.strategies.uncertainty import least_confidence

STOP_SET_SIZE = 2000  # the images with the smallest random keys: a sample of the pool, stable as it grows


@dataclass
class QueueEntry:
    image_id: int
    score: float | None
    top: list[tuple[str, float]] = field(default_factory=list)  # the model's top 3 classes


@dataclass
class Ranking:
    version: int | None
    strategy: str
    entries: list[QueueEntry]
    created_at: float = field(default_factory=time.time)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Ranking | None:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        entries = [QueueEntry(e["image_id"], e["score"], [tuple(t) for t in e["top"]]) for e in data["entries"]]
        return cls(data["version"], data["strategy"], entries, data["created_at"])


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
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def stopping_status(settings: dict[str, Any], history: list[RoundRecord]) -> list[dict[str, Any]]:
    """Each configured stopping criterion, whether it is met, and why."""
    criteria = []
    if settings.get("stop_label_budget"):
        criteria.append(("label budget", LabelBudget(int(settings["stop_label_budget"]))))
    if settings.get("stop_target_accuracy"):
        criteria.append(("target accuracy", TargetMetric(float(settings["stop_target_accuracy"]))))
    criteria.append(("stabilizing predictions", StabilizingPredictions(kappa=float(settings["stop_kappa"]))))
    criteria.append(("low uncertainty", LowUncertainty(0.05)))
    out = []
    for name, criterion in criteria:
        decision = criterion.check(history)
        out.append({"name": name, "met": decision.met, "reason": decision.reason})
    return out


def train_and_rank(project: Project, settings: dict[str, Any], seed: int = 0) -> tuple[Ranking, dict[str, Any]]:
    """Train on the current labels, rank the pool; record the model version (or its failure)."""
    start = time.perf_counter()
    pool = load_pool(project)
    if len(pool.class_names) < 2:
        raise LabelwiseError("the project needs at least two classes before a model can be trained")
    labeled = np.flatnonzero(pool.labels >= 0)
    strategy = get_strategy(settings["strategy"])
    loop = ActiveLoop(pool.X, len(pool.class_names), strategy=strategy, candidates=settings["candidates"],
                      explore=settings["explore"], estimate_accuracy=False, seed=seed)  # fmt: skip
    loop.teach(labeled, pool.labels[labeled])
    loop.fit()
    view = loop.pool_view()
    unlabeled = int(pool.X.shape[0] - labeled.size)
    picked = loop.query(min(settings["queue_size"], unlabeled), view) if unlabeled else np.empty(0, int)
    scores = strategy.score(view, seed) if (loop.model is not None and strategy.score is not None) else None
    entries = []
    for i in picked:
        top = []
        if view.probs is not None:
            order = np.argsort(-view.probs[i])[:3]
            top = [(pool.class_names[k], float(view.probs[i, k])) for k in order]
        entries.append(QueueEntry(int(pool.image_ids[i]), None if scores is None else float(scores[i]), top))
    cv = loop.cross_validated_accuracy() if loop.model is not None else {}
    history = load_history(project)
    stop_predictions = pool_uncertainty = None
    if view.probs is not None:
        stop_predictions = view.probs[stop_set(pool, STOP_SET_SIZE)].argmax(axis=1)
        if unlabeled:
            pool_uncertainty = float(least_confidence(view.probs[pool.labels < 0]).mean())
    metrics = {k: v for k, v in cv.items() if v == v}  # drop NaN
    with project.sessions.begin() as session:
        row = ModelVersion(status="ok", n_labels=int(labeled.size), strategy=loop.last_strategy,
                           accuracy=metrics.get("cv_accuracy"), accuracy_sd=metrics.get("cv_accuracy_sd"),
                           seconds=time.perf_counter() - start)  # fmt: skip
        session.add(row)
        session.flush()
        version = row.id
    history.append(RoundRecord(len(history), int(labeled.size), loop.last_strategy, metrics, None,
                               stop_predictions, pool_uncertainty))  # fmt: skip
    _save_history(project, history)
    ranking = Ranking(version, loop.last_strategy, entries)
    if view.probs is not None:
        _save_predictions(project, pool.image_ids, view.probs, scores)
    ranking.save(ranking_path(project))
    return ranking, {"version": version, "n_labels": int(labeled.size), **metrics}


def predictions_path(project: Project) -> Path:
    return project.folder / "models" / "predictions.npz"


def _save_predictions(project: Project, image_ids: np.ndarray, probs: np.ndarray, scores: np.ndarray | None) -> None:
    """Predicted class, confidence and score of every pool image, for the image grid's filters."""
    path = predictions_path(project)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, image_ids=image_ids, predicted=probs.argmax(axis=1), confidence=probs.max(axis=1),
             score=np.full(len(image_ids), np.nan) if scores is None else scores)  # fmt: skip
    tmp.replace(path)


def record_failure(project: Project, n_labels: int, strategy: str, error: str) -> None:
    with project.sessions.begin() as session:
        session.add(ModelVersion(status="failed", n_labels=n_labels, strategy=strategy, error=error))
