"""``auto``'s switch from TypiClust to Cluster-Margin is decided by how much of the pool the labels cover."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import PoolView, get_strategy
from labelwise.strategies.auto import auto_phase, labeled_coverage


def blobs(sizes, spread=0.3, seed=0):
    """Well-separated 2-D blobs centred on a grid 10 apart, and the blob of each point."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    X = np.concatenate([rng.normal(centres[i], spread, size=(s, 2)) for i, s in enumerate(sizes)])
    y = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)])
    return X.astype(np.float32), y


def model_view(X, y, labeled_idx, k):
    """A view whose model has learned the blobs (confident, right predictions)."""
    labeled = np.zeros(len(X), dtype=bool)
    labeled[list(labeled_idx)] = True
    probs = np.full((len(X), k), 0.05 / max(k - 1, 1))
    probs[np.arange(len(X)), y] = 0.95
    return PoolView(labeled=labeled, embeddings=X, probs=probs, n_classes=k)


def test_switches_to_cluster_margin_once_every_cluster_has_a_label():
    # One label per blob covers the pool: the fixed rule would have waited for 20 labels per class.
    X, y = blobs((100, 100, 100))
    view = model_view(X, y, [0, 100, 200], 3)
    assert labeled_coverage(view) == 1.0
    assert auto_phase(view) == "cluster-margin"


def test_stays_typical_while_a_cluster_has_no_label():
    # 59 labels, all in blob 0: two thirds of the pool uncovered.
    X, y = blobs((100, 100, 100))
    view = model_view(X, y, range(59), 3)
    assert labeled_coverage(view) == pytest.approx(1 / 3, abs=0.02)  # a few edge points of the next blobs
    assert auto_phase(view) == "typiclust"
    # Typical picks go to the uncovered blobs, and the switch comes once most of the pool has a label near it.
    picked = get_strategy("auto").query(view, 5, seed=0)
    assert not np.isin(y[picked], [0]).any()
    assert auto_phase(model_view(X, y, [*range(59), 100, 200], 3)) == "cluster-margin"


def test_binary_pool_switches_after_a_few_labels():
    # The toy-set shape: two classes; four labels covering both blobs are enough to move to margins.
    X, y = blobs((100, 300))
    assert auto_phase(model_view(X, y, [0, 1, 100, 101], 2)) == "cluster-margin"
    assert auto_phase(model_view(X, y, [0, 1, 2, 3], 2)) == "typiclust"  # the larger class has no label yet


def test_no_model_is_always_typical():
    X, y = blobs((50, 50))
    view = model_view(X, y, range(100), 2)
    assert auto_phase(PoolView(labeled=view.labeled, embeddings=X, n_classes=2)) == "typiclust"


@pytest.mark.parametrize("n_pool", [300, 6000])  # 6,000 goes through the coverage sample
def test_coverage_and_picks_do_not_depend_on_pool_order(n_pool):
    rng = np.random.default_rng(1)
    X, y = blobs((n_pool // 3,) * 3, spread=2.0)
    labeled = rng.choice(len(X), 40, replace=False)
    view = model_view(X, y, labeled, 3)
    perm = rng.permutation(len(X))
    inverse = np.argsort(perm)
    shuffled = model_view(X[perm], y[perm], inverse[labeled], 3)
    assert labeled_coverage(shuffled) == pytest.approx(labeled_coverage(view))
    assert auto_phase(shuffled) == auto_phase(view)


def test_same_seed_same_picks():
    X, y = blobs((100, 100, 100), spread=2.0)
    view = model_view(X, y, range(0, 300, 37), 3)
    a = get_strategy("auto").query(view, 10, seed=3)
    b = get_strategy("auto").query(view, 10, seed=3)
    np.testing.assert_array_equal(a, b)


def test_typical_phase_ends_at_twenty_labels_per_class_even_uncovered():
    # A pool the labels never cover (all in blob 0) still moves on to margins at 20 labels per class.
    X, y = blobs((100, 100, 100))
    assert auto_phase(model_view(X, y, range(59), 3)) == "typiclust"
    assert auto_phase(model_view(X, y, range(60), 3)) == "cluster-margin"


def test_coverage_balls_are_closed():
    # Two classes on a line, 0..3 and 10..13: the nearest point of the other class is 7 to 10 away,
    # so the 5% purity radius is 7. Labeled at 3, the ball [-4, 10] holds 0, 1, 2, 3 and, exactly
    # on its edge, 10: 5 of 8 points covered (the ball is closed, as ProbCover's).
    X = np.array([[0.0], [1], [2], [3], [10], [11], [12], [13]], dtype=np.float32)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert labeled_coverage(model_view(X, y, [3], 2)) == pytest.approx(5 / 8)


def test_coverage_of_a_big_pool_is_measured_on_an_even_sample_of_its_items(monkeypatch):
    # Above COVERAGE_SAMPLE items (20 here), the coverage is measured on that many distinct items,
    # chosen by the embeddings themselves: the same items whatever the pool order.
    import labelwise.strategies.auto as auto

    monkeypatch.setattr(auto, "COVERAGE_SAMPLE", 20)
    X, _ = blobs((30, 30, 30))
    sample = auto._sample(X)
    assert sample.size == 20 and len(set(sample.tolist())) == 20
    order = np.random.default_rng(1).permutation(len(X))
    resampled = order[auto._sample(X[order])]
    assert set(resampled.tolist()) == set(sample.tolist())
    assert auto._sample(X[:20]).tolist() == list(range(20))  # at the sample size: every item
