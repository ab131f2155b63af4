from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.estimator_checks import check_get_params_invariance, check_parameters_default_constructible

from labelwise.errors import NotEnoughClassesError
from labelwise.learn import BootstrapCommittee, Head


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_unseen_classes_keep_their_columns_with_zero_probability(digits):
    X, y = digits
    few = y < 4
    head = Head(classes=list(range(10))).fit(X[few][:200], y[few][:200])
    probs = head.predict_proba(X)
    assert probs.shape == (len(X), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[:, 4:].max() == 0.0
    # Same numbers as the wrapped estimator in the columns it knows.
    np.testing.assert_allclose(probs[:, :4], head.estimator_.predict_proba(X), atol=1e-10)
    assert (head.predict(X[few]) == y[few]).mean() > 0.9


def test_binary_estimator_maps_to_the_right_columns(digits):
    X, y = digits
    two = (y == 3) | (y == 7)
    head = Head(classes=list(range(10))).fit(X[two], y[two])
    probs = head.predict_proba(X[two])
    np.testing.assert_allclose(probs[:, [3, 7]], head.estimator_.predict_proba(X[two]), atol=1e-10)
    assert (head.predict(X[two]) == y[two]).mean() > 0.95


def test_any_sklearn_classifier_plugs_in(digits):
    X, y = digits
    head = Head(classes=list(range(10)), estimator=KNeighborsClassifier(3)).fit(X[:300], y[:300])
    assert head.linear_ is None
    probs = head.predict_proba(X[300:])
    assert probs.shape == (len(X) - 300, 10)
    assert (head.predict(X[300:]) == y[300:]).mean() > 0.85


def test_fewer_than_two_classes_is_a_clear_error(digits):
    X, y = digits
    with pytest.raises(NotEnoughClassesError, match="at least 2 classes"):
        Head(classes=list(range(10))).fit(X[y == 1], y[y == 1])


def test_labels_outside_the_class_list_are_refused(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"labels \[7\] are not among"):
        Head(classes=[0, 1]).fit(X[:3], np.array([0, 1, 7]))


def test_sklearn_estimator_conventions():
    check_parameters_default_constructible("Head", Head())
    check_get_params_invariance("Head", Head())
    check_parameters_default_constructible("BootstrapCommittee", BootstrapCommittee())
    assert clone(Head(classes=[0, 1, 2])).get_params()["classes"] == [0, 1, 2]


def test_committee_samples_shape_mean_and_disagreement(digits):
    X, y = digits
    committee = BootstrapCommittee(Head(classes=list(range(10))), n_members=4, random_state=0).fit(X[:60], y[:60])
    samples = committee.predict_proba_samples(X[60:])
    assert samples.shape == (4, len(X) - 60, 10)
    np.testing.assert_allclose(samples.sum(axis=2), 1.0, atol=1e-9)
    np.testing.assert_allclose(committee.predict_proba(X[60:]), samples.mean(axis=0))
    # The stacked fast path gives each member's own answer.
    np.testing.assert_allclose(samples[2], committee.members_[2].predict_proba(X[60:]), atol=1e-10)
    # Members trained on different resamples disagree somewhere.
    assert samples.std(axis=0).max() > 0.01


def test_committee_is_reproducible_for_a_random_state(digits):
    X, y = digits
    a = BootstrapCommittee(Head(classes=list(range(10))), random_state=3).fit(X[:80], y[:80])
    b = BootstrapCommittee(Head(classes=list(range(10))), random_state=3).fit(X[:80], y[:80])
    np.testing.assert_array_equal(a.predict_proba_samples(X[:50]), b.predict_proba_samples(X[:50]))


def test_committee_members_see_every_labeled_class(digits):
    X, y = digits
    rows = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(10)])  # 2 labels per class
    committee = BootstrapCommittee(Head(classes=list(range(10))), n_members=6, random_state=0).fit(X[rows], y[rows])
    for member in committee.members_:
        assert sorted(member.estimator_.classes_.tolist()) == list(range(10))


@pytest.mark.parametrize("scale", [1.0, 500.0])
def test_softmax_matches_the_textbook_formula_small_and_huge_logits(scale):
    from scipy.special import softmax

    from labelwise.learn import softmax_rows

    logits = np.random.default_rng(0).normal(size=(50, 6)) * scale
    logits[:, 2] = -np.inf  # an unseen class
    expected = softmax(logits, axis=1)
    got = softmax_rows(logits.copy())
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-300)
    assert np.isfinite(got).all() and (got[:, 2] == 0).all()
