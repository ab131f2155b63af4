"""A retrain hands its ranking over before measuring the model: the cross-validated accuracy (only
shown on the dashboard) is written on the version's row and in the history afterwards, and the pool's
predictions (the grid's filters) saved then."""

from __future__ import annotations

import pytest

from labelwise.project.pool import PoolCache
from labelwise.project.settings import get_settings
from labelwise.project.training import Ranking, load_history, predictions_path, rank_then_measure, ranking_path
from labelwise.store.models import ModelVersion
from tests.project.test_pool_cache import label, make_project


@pytest.fixture
def project(tmp_path):
    yield from make_project(tmp_path, "")


def test_the_ranking_is_saved_and_its_version_recorded_before_the_model_is_measured(project):
    for image_id in range(1, 13):
        label(project, image_id, image_id % 2)
    ranking, measure = rank_then_measure(project, get_settings(project), pool_cache=PoolCache())
    saved = Ranking.load(ranking_path(project))
    assert saved is not None and saved.version == ranking.version and len(saved.entries) == len(ranking.entries)
    with project.sessions() as session:
        row = session.get(ModelVersion, ranking.version)
        assert row.status == "ok" and row.n_labels == 12 and row.accuracy is None
    assert load_history(project) == [] and not predictions_path(project).exists()  # the grid's, after
    info = measure()
    assert predictions_path(project).exists()
    assert info["version"] == ranking.version and 0.0 <= info["cv_accuracy"] <= 1.0
    with project.sessions() as session:
        assert session.get(ModelVersion, ranking.version).accuracy == info["cv_accuracy"]
    history = load_history(project)
    assert len(history) == 1 and history[0].n_labeled == 12 and history[0].metrics["cv_accuracy"] == info["cv_accuracy"]
