"""Exact behaviour of the diversity, coverage and hybrid strategies on small hand-made pools."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import PoolView, get_strategy
from labelwise.strategies.auto import MAX_TYPICAL_LABELS_PER_CLASS, auto_phase
from labelwise.strategies.diversity import purity_radius, typicality
from labelwise.strategies.hybrid import gradient_sq_distances


def blobs(sizes=(60, 40, 20), spread=0.3, seed=0):
    """Well-separated 2-D blobs centred at (0,0), (10,0), (0,10) ..."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    X = np.concatenate([rng.normal(centres[i], spread, size=(s, 2)) for i, s in enumerate(sizes)])
    y = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)])
    return X.astype(np.float32), y


def view_of(X, labeled_idx=(), probs=None, n_classes=3):
    labeled = np.zeros(len(X), dtype=bool)
    labeled[list(labeled_idx)] = True
    return PoolView(labeled=labeled, embeddings=X, probs=probs, n_classes=n_classes)


def test_kcenter_from_nothing_starts_central_then_goes_far():
    X = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [10, 0]], dtype=np.float32)
    picked = get_strategy("kcenter").query(view_of(X), 3, seed=0)
    # Mean is x=3.33: item 3 is central; the farthest from it is 10, then 0.
    assert picked.tolist() == [3, 5, 0]


def test_kcenter_goes_farthest_from_the_labels():
    X, _ = blobs()
    picked = get_strategy("kcenter").query(view_of(X, labeled_idx=[0, 60]), 1, seed=0)
    assert 100 <= picked[0] < 120  # the third blob, untouched by labels


def test_typiclust_takes_one_typical_item_per_blob_then_the_uncovered_blob():
    X, y = blobs()
    picked = get_strategy("typiclust").query(view_of(X), 3, seed=0)
    assert sorted(y[picked].tolist()) == [0, 1, 2]
    # Each pick is among the most typical (densest) members of its blob.
    for i in picked:
        members = np.flatnonzero(y == y[i])
        t = typicality(X[members])
        assert t[members.tolist().index(i)] >= np.quantile(t, 0.8)
    labeled_two = [0, 60]  # blobs 0 and 1 have a label each
    picked = get_strategy("typiclust").query(view_of(X, labeled_idx=labeled_two), 1, seed=0)
    assert y[picked[0]] == 2


def test_probcover_radius_is_below_the_gap_and_covers_each_blob():
    X, y = blobs()
    delta = purity_radius(X, y)
    assert 0.0 < delta < 9.0  # balls never reach another blob
    picked = get_strategy("probcover").query(view_of(X), 3, seed=0)
    assert sorted(y[picked].tolist()) == [0, 1, 2]


def test_badge_gradient_distances_equal_the_explicit_kronecker_form():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=7)
    X = rng.normal(size=(7, 3))
    r = probs.copy()
    r[np.arange(7), probs.argmax(1)] -= 1
    g = np.stack([np.kron(r[i], np.append(X[i], 1.0)) for i in range(7)])
    explicit = ((g - g[2]) ** 2).sum(axis=1)
    np.testing.assert_allclose(gradient_sq_distances(r, X, 2), explicit, atol=1e-10)


def test_badge_starts_at_the_largest_gradient_and_spreads_out():
    X, y = blobs(sizes=(30, 30, 30))
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3) * 5, size=len(X))
    view = view_of(X, probs=probs)
    picked = get_strategy("badge").query(view, 6, seed=0)
    r = probs.copy()
    r[np.arange(len(X)), probs.argmax(1)] -= 1
    norms = (r * r).sum(1) * ((X * X).sum(1) + 1)
    assert picked[0] == norms.argmax()
    assert len(set(y[picked].tolist())) >= 2


def test_cluster_margin_takes_low_margins_one_per_cluster():
    X, y = blobs(sizes=(50, 50, 50))
    probs = np.tile([0.98, 0.01, 0.01], (len(X), 1))  # confident everywhere ...
    uncertain = np.r_[0:5, 50:55]  # ... except five items in each of blobs 0 and 1
    probs[uncertain] = [0.4, 0.38, 0.22]
    picked = get_strategy("cluster-margin").query(view_of(X, probs=probs), 2, seed=0)
    # The margin pre-filter keeps 20 items: the 10 uncertain ones and 10 ties; both picks come
    # from different clusters.
    assert len(set(y[picked].tolist())) == 2


# A model that predicts one class everywhere: the purity radius is 0, so coverage is the labeled share
# (59/300, uncovered) and the switch comes from the bound of 20 labels per class.
@pytest.mark.parametrize(("n_labeled", "with_model", "phase"), [
    (0, False, "typiclust"),
    (59, True, "typiclust"),
    (60, False, "typiclust"),
    (60, True, "cluster-margin"),
])  # fmt: skip
def test_auto_phase_follows_coverage_then_labels_per_class(n_labeled, with_model, phase):
    X, _ = blobs(sizes=(100, 100, 100))
    probs = np.full((len(X), 3), 1 / 3) if with_model else None
    assert auto_phase(view_of(X, labeled_idx=range(n_labeled), probs=probs)) == phase


def test_auto_explores_in_the_uncertainty_phase(monkeypatch):
    monkeypatch.setattr("labelwise.strategies.auto.SWITCH_COVERAGE", 0.0)  # past the typical phase
    X, _ = blobs(sizes=(200, 200, 200))
    rng = np.random.default_rng(0)
    top = np.r_[rng.uniform(0.4, 0.5, 200), rng.uniform(0.95, 0.99, 400)]  # blob 0 is uncertain
    probs = np.stack([top, (1 - top) * 0.9, (1 - top) * 0.1], axis=1)
    labeled = range(300, 360)
    picked = get_strategy("auto").query(view_of(X, labeled_idx=labeled, probs=probs), 20, seed=0)
    uncertain_picks = np.isin(picked, np.arange(200)).sum()
    assert len(picked) == 20 and uncertain_picks >= 18  # 18 by cluster-margin, 2 explorers anywhere
    assert not np.isin(picked[:18], np.arange(200, 600)).any()


def test_auto_phase_counts_the_models_classes_when_the_view_does_not_say():
    n_labeled = MAX_TYPICAL_LABELS_PER_CLASS * 3  # enough labels for 3 classes, not for 10
    labeled = np.zeros(200, bool)
    labeled[:n_labeled] = True
    probs = np.full((200, 3), 1 / 3)
    assert auto_phase(PoolView(labeled=labeled, probs=probs)) == "cluster-margin"
    labeled[n_labeled - 1] = False
    assert auto_phase(PoolView(labeled=labeled, probs=probs)) == "typiclust"


def test_typicality_of_a_big_cluster_is_measured_against_a_reference_sample():
    # Above ``reference`` members, distances go to an evenly spaced sample of them: the densest
    # part of a line (spacing 0.01 in the middle, 1 at the ends) is still the most typical.
    line = np.concatenate([np.arange(30.0), 30 + np.arange(60) * 0.01, 31 + np.arange(30.0)])
    members = np.column_stack([line, np.zeros_like(line)]).astype(np.float32)
    for reference in (len(line), 40):
        t = typicality(members, k=5, reference=reference)
        assert t.shape == (len(line),) and np.isfinite(t).all()
        assert 30 <= int(np.argmax(t)) < 90
        assert t[30:90].min() > t[:30].max()


def test_typicality_is_one_over_the_mean_distance_to_the_nearest_neighbours():
    # On a line 0, 1, 3: the nearest neighbour is 1, 1, 2 away; the two nearest average 2, 1.5, 2.5.
    members = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)
    np.testing.assert_allclose(typicality(members, k=1), [1.0, 1.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(typicality(members, k=2), [1 / 2, 1 / 1.5, 1 / 2.5], rtol=1e-6)
