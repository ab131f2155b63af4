"""What the dashboard and ``GET /api/status`` show, computed in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labelwise.project.accuracy import estimate_for, load_audit_labels
from labelwise.project.preselect import preselection_stats
from labelwise.project.project import Project
from labelwise.project.settings import get_settings, settings_history
from labelwise.project.status import project_status
from labelwise.project.training import load_history, stopping_status
from labelwise.server.worker import Retrainer
from labelwise.store.models import ModelVersion


def server_status(project: Project, retrainer: Retrainer) -> dict[str, Any]:
    info = project_status(project)
    settings = get_settings(project)
    with project.sessions() as session:
        versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))
    ok = [v for v in versions if v.status == "ok"]
    latest = ok[-1] if ok else None
    failed = versions[-1] if versions and versions[-1].status == "failed" else None
    ranking = retrainer.ranking
    audit = load_audit_labels(project)
    estimate = estimate_for(audit, latest.id, latest.n_labels) if latest else None
    curve = [(v, estimate_for(audit, v.id, v.n_labels)) for v in ok]
    return {
        "images_ok": info["images_ok"],
        "images_broken": info["images_broken"],
        "images_duplicate": info["images_duplicate"],
        "labeled": info["labeled"],
        "unlabeled": info["unlabeled"],
        "classes": info["classes"],
        "model": None if latest is None else {
            "version": latest.id, "n_labels": latest.n_labels, "strategy": latest.strategy,
            # The honest number: agreement with the random audit sample (None while too few).
            "accuracy": estimate.value, "accuracy_low": estimate.low, "accuracy_high": estimate.high,
            "accuracy_n": estimate.n, "accuracy_versions": list(estimate.versions),
            "accuracy_reason": estimate.reason,
            # Cross-validated on the labels active learning chose: optimistic, kept for comparison.
            "cv_accuracy_optimistic": latest.accuracy, "cv_accuracy_sd": latest.accuracy_sd,
            "seconds": latest.seconds, "trained_at": latest.created_at.isoformat(),
        },
        "serving_version": None if ranking is None else ranking.version,
        "queue_length": 0 if ranking is None else len(ranking.entries),
        # Which head's probabilities rank the served queue, and why (auto: what cross-validation chose).
        "serving_head": None if ranking is None else ranking.head,
        "serving_head_reason": None if ranking is None else ranking.head_reason,
        "training": retrainer.training,
        "training_error": None if failed is None else {"version": failed.id, "error": failed.error},
        "learning_curve": [
            {"version": v.id, "n_labels": v.n_labels, "accuracy": e.value, "low": e.low, "high": e.high,
             "n_audit": e.n}
            for v, e in curve if e.measured
        ],
        "stopping": stopping_status(settings, load_history(project), estimate, labeled_now=info["labeled"]),
        "preselection": preselection_stats(project),
        "settings": settings,
        "settings_history": settings_history(project, limit=20),
    }  # fmt: skip
