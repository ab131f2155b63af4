"""project/settings.py called directly on a real SQLite project: bounds, refusals, history."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import delete

from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.project.settings import DEFAULTS, get_settings, settings_history, update_settings
from labelwise.store.models import Setting, SettingChange
from labelwise.strategies import strategy_names

# key -> (lowest allowed, highest allowed or None, kind, optional)
BOUNDS = {
    "candidates": (1, None, int, True),
    "explore": (0.0, 1.0, float, False),
    "retrain_every": (1, 100_000, int, False),
    "lease_minutes": (0.01, 24 * 60, float, False),
    "max_leases_per_user": (1, 100, int, False),
    "queue_size": (1, 100_000, int, False),
    "stop_label_budget": (1, None, int, True),
    "stop_target_accuracy": (0.0, 1.0, float, True),
    "stop_kappa": (0.0, 1.0, float, False),
    "audit_fraction": (0.0, 1.0, float, False),
    "preselect_threshold": (0.0, 1.0, float, True),
    "overlap": (0.0, 1.0, float, False),
    "labels_per_overlap_image": (2, 10, int, False),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("settings")
    (root / "images").mkdir()
    proj = Project.create(root / "proj", root / "images", backbone="squeezenet")
    yield proj
    proj.close()


@pytest.fixture(autouse=True)
def fresh(project):
    with project.sessions.begin() as session:
        session.execute(delete(SettingChange))
        session.execute(delete(Setting))
    yield


def test_every_setting_but_the_strategy_and_head_has_bounds_here():
    assert set(BOUNDS) | {"strategy", "head"} == set(DEFAULTS)


def test_a_fresh_project_has_the_defaults(project):
    assert get_settings(project) == DEFAULTS
    assert settings_history(project) == []


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_the_bounds_are_accepted_and_kept_with_their_kind(project, key):
    low, high, kind, optional = BOUNDS[key]
    for value in (low, high if high is not None else 10**9):
        got = update_settings(project, {key: value}, "boss")[key]
        assert got == value and type(got) is kind
    if optional:
        assert update_settings(project, {key: None}, "boss")[key] is None
    assert get_settings(project)[key] == (None if optional else (high if high is not None else 10**9))


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_just_outside_the_bounds_is_refused_with_the_range(project, key):
    low, high, kind, _ = BOUNDS[key]
    step = 1 if kind is int else 1e-6
    shown = f"must be between {low} and {high if high is not None else 'any'}"
    with pytest.raises(LabelwiseError, match=f"^settings.{key}: {shown}$"):
        update_settings(project, {key: low - step}, "boss")
    if high is not None:
        with pytest.raises(LabelwiseError, match=f"^settings.{key}: {shown}$"):
            update_settings(project, {key: high + step}, "boss")
    assert get_settings(project) == DEFAULTS


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_values_that_are_not_numbers_are_refused(project, key):
    _, _, kind, optional = BOUNDS[key]
    expected = "an integer" if kind is int else "a number"
    bad = [True, False, "5", [1], math.inf, -math.inf] + ([] if optional else [None])
    if kind is int:
        bad.append(2.5)
    for value in bad:
        message = f"^settings.{key}: expected {expected}, got {re.escape(repr(value))}$"
        with pytest.raises(LabelwiseError, match=message):
            update_settings(project, {key: value}, "boss")
    with pytest.raises(LabelwiseError, match=f"^settings.{key}: expected a number, got NaN$"):
        update_settings(project, {key: math.nan}, "boss")
    assert get_settings(project) == DEFAULTS


def test_a_whole_float_is_accepted_as_an_integer(project):
    got = update_settings(project, {"retrain_every": 25.0}, "boss")["retrain_every"]
    assert got == 25 and type(got) is int


def test_the_strategy_must_be_a_known_one(project):
    for name in strategy_names():
        assert update_settings(project, {"strategy": name}, "boss")["strategy"] == name
    with pytest.raises(LabelwiseError, match=r"^settings.strategy: unknown 'nope'; known: .*\bmargin\b"):
        update_settings(project, {"strategy": "nope"}, "boss")


def test_the_head_is_auto_by_default_and_must_be_a_known_one(project):
    assert DEFAULTS["head"] == "auto"
    for name in ("logistic", "label-spreading", "self-training", "auto"):
        assert update_settings(project, {"head": name}, "boss")["head"] == name
    with pytest.raises(LabelwiseError, match=r"^settings.head: unknown 'knn'; known: .*\blabel-spreading\b"):
        update_settings(project, {"head": "knn"}, "boss")
    assert get_settings(project)["head"] == "auto"


def test_an_unknown_setting_is_refused_naming_the_known_ones(project):
    with pytest.raises(LabelwiseError, match=f"^settings.colour: unknown setting; known: {', '.join(DEFAULTS)}$"):
        update_settings(project, {"colour": "red"}, "boss")


def test_nothing_is_written_when_one_change_is_wrong(project):
    with pytest.raises(LabelwiseError, match=r"settings\.queue_size"):
        update_settings(project, {"explore": 0.2, "queue_size": 0}, "boss")
    assert get_settings(project) == DEFAULTS and settings_history(project) == []


def test_every_change_is_recorded_with_who_and_the_old_value_newest_first(project):
    update_settings(project, {"explore": 0.2, "candidates": 500}, "boss")
    update_settings(project, {"explore": 0.3, "queue_size": DEFAULTS["queue_size"]}, "eve")  # queue_size unchanged
    assert get_settings(project) == {**DEFAULTS, "explore": 0.3, "candidates": 500}
    history = settings_history(project)
    assert [(h["key"], h["old"], h["new"], h["by"]) for h in history] == [
        ("explore", 0.2, 0.3, "eve"),
        ("candidates", None, 500, "boss"),
        ("explore", 0.0, 0.2, "boss"),
    ]
    assert all(h["at"] for h in history)
    # an unchanged value listed first does not stop the changes after it
    update_settings(project, {"queue_size": DEFAULTS["queue_size"], "retrain_every": 7}, "eve")
    assert get_settings(project)["retrain_every"] == 7
    assert settings_history(project)[0]["key"] == "retrain_every"
    assert [h["new"] for h in settings_history(project, limit=1)] == [7]
    # a setting back to None is recorded too
    update_settings(project, {"candidates": None}, "boss")
    assert settings_history(project, limit=1)[0] == {**settings_history(project, limit=1)[0], "old": 500, "new": None}
    assert get_settings(project)["candidates"] is None
