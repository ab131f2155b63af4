"""ActiveLoop passes its controls through, keeps its records honest and guards its inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from labelwise.loop import ActiveLoop, LabelBudget, MaxRounds, StabilizingPredictions
from labelwise.loop.datasets import digits
from labelwise.strategies import get_strategy
from labelwise.strategies.uncertainty import least_confidence


@pytest.fixture(scope="module")
def data():
    return digits()


def taught(data, n: int = 60, **kwargs) -> ActiveLoop:
    loop = ActiveLoop(data.X_pool, 10, estimate_accuracy=False, **kwargs)
    loop.teach(np.arange(n), data.y_pool[:n])
    loop.fit()
    return loop


def test_explore_reaches_scoring_strategies_through_the_loop(data):
    loop = taught(data, strategy="margin", explore=0.5, seed=2)
    view = loop.pool_view()
    scores = np.where(view.selectable, get_strategy("margin").score(view, 0), -np.inf)
    best = np.argsort(-scores)[:20]
    picked = loop.query(20, view)
    assert picked.size == 20 and len(set(picked.tolist())) == 20
    assert set(picked[:10].tolist()) <= set(best[:10].tolist())
    assert not np.isin(picked[10:], best).all()  # ten explorers from the rest of the pool


def test_candidates_reach_the_strategy_through_the_loop(data):
    full = taught(data, strategy="margin", seed=3)
    view = full.pool_view()
    top = set(np.argsort(-np.where(view.selectable, get_strategy("margin").score(view, 0), -np.inf))[:10].tolist())
    assert set(full.query(10, view).tolist()) == top
    sub = taught(data, strategy="margin", candidates=30, seed=3)
    picked = sub.query(10, sub.pool_view())
    assert picked.size == 10 and len(set(picked.tolist()) & top) < 10


def test_set_strategies_get_explore_through_the_loop(data):
    for name in ("kcenter", "typiclust"):
        loop = taught(data, strategy=name, explore=0.4, seed=1)
        picked = loop.query(10)
        assert picked.size == 10 and len(set(picked.tolist())) == 10
        pure = taught(data, strategy=name, seed=1).query(10)
        assert set(picked.tolist()) != set(pure.tolist()), name  # four of ten are explorers


def test_a_committee_view_holds_mean_probabilities_of_the_right_shape(data):
    loop = taught(data, strategy="variance", n_members=3, seed=0)
    view = loop.pool_view()
    assert view.samples.shape == (3, len(data.X_pool), 10)
    assert view.probs.shape == (len(data.X_pool), 10)
    np.testing.assert_allclose(view.probs, view.samples.mean(axis=0))
    assert view.n_classes == 10 and view.labels is loop.labels and view.embeddings is loop.X
    single = taught(data, strategy="margin").pool_view()
    assert single.samples is None and single.probs.shape == (len(data.X_pool), 10)


def test_records_carry_stop_predictions_and_pool_uncertainty(data):
    loop = ActiveLoop(data.X_pool, 10, strategy="margin", stop_set_size=300, seed=0, estimate_accuracy=False)
    loop.teach(np.arange(50), data.y_pool[:50])
    view = loop.start()
    first = loop.history[0]
    assert first.stop_predictions.shape == (300,)
    np.testing.assert_array_equal(first.stop_predictions, view.probs[loop.stop_set].argmax(axis=1))
    assert first.pool_uncertainty == pytest.approx(float(least_confidence(view.probs[50:]).mean()))
    assert len(set(loop.stop_set.tolist())) == 300 and np.all(np.diff(loop.stop_set) > 0)


def test_stabilizing_predictions_can_stop_the_loop(data):
    loop = ActiveLoop(data.X_pool, 10, strategy="margin", seed=0, estimate_accuracy=False)
    loop.teach(np.arange(300), data.y_pool[:300])
    decision = loop.run(lambda idx: data.y_pool[idx], 5, StabilizingPredictions(kappa=0.9, window=2) | MaxRounds(30))
    assert decision.met and "kappa" in decision.reason and "rounds done" not in decision.reason
    assert len(loop.history) == 3  # three models, two agreeing pairs


def test_run_caps_the_last_batch_at_the_budget(data):
    loop = ActiveLoop(data.X_pool, 10, strategy="entropy", seed=0, estimate_accuracy=False)
    loop.teach(np.arange(20), data.y_pool[:20])
    loop.run(lambda idx: data.y_pool[idx], 15, LabelBudget(50) & LabelBudget(40))
    assert [r.n_labeled for r in loop.history] == [20, 35, 50]
    assert [r.selected.size for r in loop.history[1:]] == [15, 15]
    assert [r.strategy for r in loop.history] == ["initial", "entropy", "entropy"]


def test_teach_rejects_negative_and_mismatched_indices(data):
    loop = ActiveLoop(data.X_pool, 10)
    with pytest.raises(IndexError, match=r"indices: must lie in \[0, "):
        loop.teach([-1], [2])
    with pytest.raises(ValueError, match="shapes"):
        loop.teach([0, 1], [2])
    with pytest.raises(ValueError, match="not class indices"):
        loop.teach([0], [-1])
    loop.teach([len(data.X_pool) - 1, 0], [9, 0])  # both ends of the pool are fine
    assert loop.n_labeled == 2 and loop.labels[-1] == 9 and loop.labels[0] == 0
    loop.teach([0], [4])  # relabeling overwrites
    assert loop.labels[0] == 4 and loop.n_labeled == 2
    with pytest.raises(ValueError, match="at least 2 classes"):
        ActiveLoop(data.X_pool, 1)


def test_without_a_model_the_loop_predicts_the_majority_class(data):
    loop = ActiveLoop(data.X_pool, 10, X_test=data.X_test, y_test=data.y_test)
    assert loop.fit() is None
    np.testing.assert_array_equal(loop.predict(data.X_test[:5]), np.zeros(5))
    sevens = np.flatnonzero(data.y_pool == 7)[:3]
    loop.teach(sevens, data.y_pool[sevens])
    assert loop.fit() is None and loop.model is None
    np.testing.assert_array_equal(loop.predict(data.X_test[:5]), np.full(5, 7))
    assert loop.evaluate()["accuracy"] == pytest.approx(float((data.y_test == 7).mean()))


def test_cross_validated_accuracy_uses_the_classes_with_two_labels(data):
    loop = ActiveLoop(data.X_pool, 10, seed=4, head=LogisticRegression(max_iter=500))
    idx = np.concatenate([np.flatnonzero(data.y_pool == c)[:n] for c, n in ((0, 4), (1, 3), (2, 1))])
    loop.teach(idx, data.y_pool[idx])
    keep = idx[data.y_pool[idx] != 2]  # one label of class 2: it cannot be held out and trained on
    X, y = data.X_pool[keep], data.y_pool[keep]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=4)  # the smallest class has 3
    scores = [LogisticRegression(max_iter=500).fit(X[a], y[a]).score(X[b], y[b]) for a, b in folds.split(X, y)]
    result = loop.cross_validated_accuracy()
    assert result["cv_accuracy"] == pytest.approx(np.mean(scores))
    assert result["cv_accuracy_sd"] == pytest.approx(np.std(scores))
    assert set(loop.evaluate()) == {"cv_accuracy", "cv_accuracy_sd"}  # no test set: estimated


def test_cross_validated_accuracy_needs_two_classes_with_two_labels(data):
    loop = ActiveLoop(data.X_pool, 10, seed=0)
    idx = np.concatenate([np.flatnonzero(data.y_pool == 0)[:5], np.flatnonzero(data.y_pool == 1)[:1]])
    loop.teach(idx, data.y_pool[idx])
    assert all(np.isnan(v) for v in loop.cross_validated_accuracy().values())
    assert set(loop.cross_validated_accuracy()) == {"cv_accuracy", "cv_accuracy_sd"}


def test_folds_are_capped_at_five(data):
    loop = ActiveLoop(data.X_pool, 10, seed=0, head=LogisticRegression(max_iter=500))
    loop.teach(np.arange(200), data.y_pool[:200])
    X, y = data.X_pool[:200], data.y_pool[:200]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = [LogisticRegression(max_iter=500).fit(X[a], y[a]).score(X[b], y[b]) for a, b in folds.split(X, y)]
    assert loop.cross_validated_accuracy()["cv_accuracy"] == pytest.approx(np.mean(scores))


def test_two_classes_with_exactly_two_labels_each_are_enough_for_an_estimate(data):
    loop = ActiveLoop(data.X_pool, 10, seed=0, head=LogisticRegression(max_iter=500))
    idx = np.concatenate([np.flatnonzero(data.y_pool == c)[:2] for c in (3, 5)])
    loop.teach(idx, data.y_pool[idx])
    X, y = data.X_pool[idx], data.y_pool[idx]
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    scores = [LogisticRegression(max_iter=500).fit(X[a], y[a]).score(X[b], y[b]) for a, b in folds.split(X, y)]
    result = loop.cross_validated_accuracy()
    assert np.isfinite(result["cv_accuracy"]) and 0.0 <= result["cv_accuracy"] <= 1.0
    assert result["cv_accuracy"] == pytest.approx(np.mean(scores))
