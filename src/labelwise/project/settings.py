"""Settings that admins change from the dashboard; every change is recorded with who and when."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.learn.choose import HEAD_SUMMARIES, head_names
from labelwise.project.project import Project
from labelwise.store.models import Setting, SettingChange, utcnow
from labelwise.strategies import get_strategy, strategy_names

DEFAULTS: dict[str, Any] = {
    "strategy": "auto",
    "head": "auto",  # the classifier on the embeddings; auto picks per retrain by cross-validation
    "candidates": None,  # None ranks the whole pool; N ranks N random images
    "explore": 0.0,
    "retrain_every": 10,
    "lease_minutes": 10,
    "max_leases_per_user": 20,  # live leases one person may hold: nobody hoards the queue
    "queue_size": 200,
    "stop_label_budget": None,
    "stop_target_accuracy": None,
    "stop_kappa": 0.99,
    "audit_fraction": 0.05,  # share of each retrain batch drawn at random to measure the model honestly
    # The annotate page pre-selects the model's top class at or above this probability (Enter
    # accepts it); None turns pre-selection off.
    "preselect_threshold": 0.6,
    # Share of the images labeled by more than one person (project/overlap.py), and by how many.
    "overlap": 0.0,
    "labels_per_overlap_image": 2,
}


def _check(key: str, value: Any) -> Any:
    def number(kind, low, high=None, optional=False):
        if value is None and optional:
            return None
        if isinstance(value, float) and value != value:  # NaN passes every comparison below
            raise LabelwiseError(f"settings.{key}: expected a number, got NaN")
        # Infinity has no int() and no place between bounds: refused here.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or (kind is int and value != int(value))
        ):
            raise LabelwiseError(
                f"settings.{key}: expected {'an integer' if kind is int else 'a number'}, got {value!r}"
            )
        if value < low or (high is not None and value > high):
            raise LabelwiseError(f"settings.{key}: must be between {low} and {high if high is not None else 'any'}")
        return kind(value)

    if key == "strategy":
        if value not in strategy_names():
            raise LabelwiseError(f"settings.strategy: unknown {value!r}; known: {', '.join(strategy_names())}")
        return value
    if key == "head":
        if value not in head_names():
            raise LabelwiseError(f"settings.head: unknown {value!r}; known: {', '.join(head_names())}")
        return value
    checks = {
        "candidates": lambda: number(int, 1, optional=True),
        "explore": lambda: number(float, 0.0, 1.0),
        "retrain_every": lambda: number(int, 1, 100_000),
        "lease_minutes": lambda: number(float, 0.01, 24 * 60),
        "max_leases_per_user": lambda: number(int, 1, 100),
        "queue_size": lambda: number(int, 1, 100_000),
        "stop_label_budget": lambda: number(int, 1, optional=True),
        "stop_target_accuracy": lambda: number(float, 0.0, 1.0, optional=True),
        "stop_kappa": lambda: number(float, 0.0, 1.0),
        "audit_fraction": lambda: number(float, 0.0, 1.0),
        "preselect_threshold": lambda: number(float, 0.0, 1.0, optional=True),
        "overlap": lambda: number(float, 0.0, 1.0),
        "labels_per_overlap_image": lambda: number(int, 2, 10),
    }
    if key not in checks:
        raise LabelwiseError(f"settings.{key}: unknown setting; known: {', '.join(DEFAULTS)}")
    return checks[key]()


def _check_for(project: Project, key: str, value: Any) -> Any:
    """``_check``, after a multi-label project's own rules (its strategies, no overlap)."""
    if project.multi_label and key in ("strategy", "head", "overlap"):
        from labelwise.project.multilabel_model import check_setting

        value = check_setting(key, value)
        if key == "strategy":  # multi-label names are not in the single-label registry
            return value
    return _check(key, value)


def get_settings(project: Project) -> dict[str, Any]:
    settings = dict(DEFAULTS)
    with project.sessions() as session:
        for row in session.scalars(select(Setting)):
            if row.key in settings:
                settings[row.key] = json.loads(row.value)
    return settings


def update_settings(project: Project, changes: dict[str, Any], user: str) -> dict[str, Any]:
    """Validate every change first (nothing is written if one is wrong), then record them."""
    checked = {key: _check_for(project, key, value) for key, value in changes.items()}
    current = get_settings(project)
    with project.sessions.begin() as session:
        for key, value in checked.items():
            if current[key] == value:
                continue
            row = session.get(Setting, key) or Setting(key=key)
            session.add(SettingChange(key=key, old_value=json.dumps(current[key]), new_value=json.dumps(value),
                                      changed_by=user))  # fmt: skip
            row.value, row.updated_at, row.updated_by = json.dumps(value), utcnow(), user
            session.add(row)
    return get_settings(project)


def settings_history(project: Project, limit: int = 50) -> list[dict[str, Any]]:
    with project.sessions() as session:
        rows = session.scalars(select(SettingChange).order_by(SettingChange.id.desc()).limit(limit))
        return [
            {"key": r.key, "old": json.loads(r.old_value) if r.old_value else None, "new": json.loads(r.new_value),
             "by": r.changed_by, "at": r.changed_at.isoformat()}
            for r in rows
        ]  # fmt: skip


def strategy_choices() -> list[tuple[str, str]]:
    """Every strategy a project may use, with its one-line summary, for the settings form."""
    return [(name, get_strategy(name).summary) for name in strategy_names()]


def head_choices() -> list[tuple[str, str]]:
    """Every head a project may use, with its one-line summary, for the settings form."""
    return list(HEAD_SUMMARIES.items())
