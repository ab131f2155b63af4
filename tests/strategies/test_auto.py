"""``auto``'s switch from TypiClust to Cluster-Margin is decided by how much of the pool the labels cover."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import PoolView, get_strategy
from labelwise.strategies.auto import (
    IMBALANCE_RATIO,
    REGIME_Z,
    SWITCH_COVERAGE,
    auto_phase,
    class_balanced,
    class_balanced_margin,
    labeled_coverage,
    margin_per_cluster,
    predicted_imbalance,
    regime_statistic,
)


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


# -- the replay on the labels (issue 10): does a batch of margin's picks or of typicality's teach more? --


def skewed_pair(seed, n=2000, dims=20, boundary=2.5):
    """Two classes along x: tight cores at -3 and +3, and class 0's long thin tail reaching a boundary at
    2.5, far from the midpoint. Typical labels (the cores) put the boundary near 0 and miss a fifth of the
    pool; only labels near the boundary move it. ``dims`` noise dimensions keep the coverage low."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(-3, 0.1, n // 4), rng.uniform(-3, boundary, 9 * n // 20),
             rng.normal(3, 0.1, n // 4), rng.uniform(boundary, 3, n // 20)]  # fmt: skip
    x = np.concatenate(parts)
    y = np.repeat([0, 0, 1, 1], [p.size for p in parts])
    return np.c_[x, rng.normal(0, 0.3, (x.size, dims))].astype(np.float32), y


def labels_view(X, y, idx, k):
    """A view with true labels on ``idx`` and the default head's probabilities fitted on them."""
    from sklearn.linear_model import LogisticRegression

    labeled = np.zeros(len(X), dtype=bool)
    labeled[idx] = True
    labels = np.full(len(X), -1)
    labels[idx] = y[idx]
    probs = LogisticRegression(max_iter=200).fit(X[idx], y[idx]).predict_proba(X)
    return PoolView(labeled=labeled, embeddings=X, labels=labels, probs=probs, n_classes=k)


def spread_labels(X, n):
    """``n`` labels at evenly spaced ranks along the first coordinate: a spread-out, seed-free design."""
    return np.argsort(X[:, 0])[np.linspace(0, len(X) - 1, n).astype(int)]


def test_replay_finds_that_margin_picks_teach_more_on_a_far_boundary():
    stats = []
    for seed in range(6):
        X, y = skewed_pair(seed)
        stats.append(regime_statistic(labels_view(X, y, spread_labels(X, 30), 2)))
    assert np.mean(stats) > REGIME_Z and sum(t > 0 for t in stats) >= 5, stats


def test_replay_keeps_typicality_while_classes_are_separate_clusters():
    # Ten classes, each a tight blob: a label at each blob centre says everything, and margin's picks (the
    # blob edges) teach no more. With 3 labels per class the replay must not ask to switch.
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(10, 20))
    X = np.concatenate([rng.normal(c, 1.0, size=(150, 20)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(10), 150)
    idx = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(10)])
    assert regime_statistic(labels_view(X, y, idx, 10)) <= REGIME_Z


def test_switch_before_the_old_ceiling_when_the_labels_show_it(monkeypatch):
    # 30 labels of 2 classes: under the old rule's 20 per class and far below coverage, so the old rule
    # stays typical; the replay says margin's picks teach more, and auto switches.
    import labelwise.strategies.auto as auto

    X, y = skewed_pair(0)
    view = labels_view(X, y, spread_labels(X, 30), 2)
    assert labeled_coverage(view) < SWITCH_COVERAGE
    assert regime_statistic(view) > REGIME_Z
    assert auto_phase(view) == "cluster-margin"
    monkeypatch.setattr(auto, "typical_labels_teach_more", lambda view: None)  # the rule before the replay
    assert auto_phase(view) == "typiclust"


def test_replay_needs_two_labels_per_class_and_true_labels():
    X, y = skewed_pair(0, n=200)
    assert regime_statistic(labels_view(X, y, [0, 1, 150], 2)) is None  # 3 labels, 2 classes
    no_labels = labels_view(X, y, spread_labels(X, 20), 2)
    assert regime_statistic(PoolView(labeled=no_labels.labeled, embeddings=X, probs=no_labels.probs)) is None


def test_replay_does_not_depend_on_pool_order():
    X, y = skewed_pair(1, n=600)
    idx = spread_labels(X, 24)
    perm = np.random.default_rng(2).permutation(len(X))
    inverse = np.argsort(perm)
    a = regime_statistic(labels_view(X, y, idx, 2))
    b = regime_statistic(labels_view(X[perm], y[perm], inverse[idx], 2))
    assert a == pytest.approx(b, rel=1e-6)


def test_margin_per_cluster_takes_each_clusters_most_uncertain_first():
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.6, 0.4], [0.55, 0.45], [0.99, 0.01]])
    view = PoolView(labeled=np.zeros(5, dtype=bool), probs=probs, clusters=np.array([0, 0, 1, 1, 2]))
    # depth 0: item 0 (cluster 0), 3 (cluster 1), 4 (cluster 2), by margin; then depth 1: 2, then 1
    assert margin_per_cluster(view, 5, np.arange(5)).tolist() == [0, 3, 4, 2, 1]
    assert margin_per_cluster(view, 2, np.arange(5)).tolist() == [0, 3]
    assert margin_per_cluster(view, 2, np.array([1, 2, 4])).tolist() == [2, 1]  # only the candidates
    no_clusters = PoolView(labeled=view.labeled, probs=probs)
    assert margin_per_cluster(no_clusters, 3, np.arange(5)).tolist() == [0, 3, 2]


def test_the_sample_is_reused_for_the_same_pool_only(monkeypatch):
    import labelwise.strategies.auto as auto

    monkeypatch.setattr(auto, "COVERAGE_SAMPLE", 20)
    calls = []
    compute = auto._compute_sample
    monkeypatch.setattr(auto, "_compute_sample", lambda X: calls.append(1) or compute(X))
    X, _ = blobs((30, 30, 30))
    first = auto._sample(X)
    assert auto._sample(X) is first and len(calls) == 1  # the same pool: computed once
    other = X.copy()
    np.testing.assert_array_equal(auto._sample(other), first)  # an equal pool, another array: recomputed
    assert len(calls) == 2
    monkeypatch.setattr(auto, "COVERAGE_SAMPLE", 10)
    assert auto._sample(other).size == 10 and len(calls) == 3  # the sample size is part of the key


# -- a long-tailed pool (issue 10): the high-budget phase tops up the classes with few labels --


def hard_pair_and_rare_class(seed, rare=20):
    """Two large overlapping classes (500 each, centres 1.5 apart) and a small, well-separated third one: margin
    keeps asking about the pair's boundary, where the large classes meet, and never about the rare class."""
    rng = np.random.default_rng(seed)
    centres, sizes = np.array([[0, 0], [1.5, 0], [0, 8]]), (500, 500, rare)
    X = np.concatenate([rng.normal(c, 1.0, size=(s, 2)) for c, s in zip(centres, sizes, strict=True)])
    return X.astype(np.float32), np.repeat(np.arange(3), sizes)


def test_long_tail_batch_asks_about_the_rare_class(monkeypatch):
    import labelwise.strategies.auto as auto

    for seed in range(3):
        X, y = hard_pair_and_rare_class(seed)
        # 60 labels (29 + 29 + 2): past the typical phase's ceiling of 20 per class, so auto is in its margins.
        view = labels_view(X, y, np.r_[0:29, 500:529, 1000:1002], 3)
        assert auto_phase(view) == "cluster-margin"
        assert predicted_imbalance(view) >= IMBALANCE_RATIO and class_balanced(view)
        picked = get_strategy("auto").query(view, 20, seed=0)
        assert np.count_nonzero(y[picked] == 2) >= 15, np.bincount(y[picked], minlength=3)
        assert get_strategy("auto").label(view) == "auto: cluster-margin (class-balanced)"
        # The rule before: lowest margins per pool cluster, all on the large pair's boundary.
        monkeypatch.setattr(auto, "IMBALANCE_RATIO", np.inf)
        old = get_strategy("auto").query(view, 20, seed=0)
        assert np.count_nonzero(y[old] == 2) <= 2, np.bincount(y[old], minlength=3)
        monkeypatch.undo()


def test_balanced_pool_keeps_margin_per_cluster(monkeypatch):
    import labelwise.strategies.auto as auto

    X, y = hard_pair_and_rare_class(0, rare=500)  # the same shapes with three classes of 500
    view = labels_view(X, y, np.r_[0:20, 500:520, 1000:1020], 3)
    assert auto_phase(view) == "cluster-margin"
    assert predicted_imbalance(view) < IMBALANCE_RATIO and not class_balanced(view)
    picked = get_strategy("auto").query(view, 20, seed=0)
    monkeypatch.setattr(auto, "IMBALANCE_RATIO", np.inf)
    np.testing.assert_array_equal(get_strategy("auto").query(view, 20, seed=0), picked)


def test_class_balanced_quotas_follow_the_label_counts():
    # 3 classes, labels 6 / 2 / 0 of 8, batch of 4: owed (8 + 4) / 3 - counts = 0, 2, 4, capped by the
    # candidates predicted in each class (3, 2, 3) to 0, 2, 3, scaled to 4 in all and rounded down (0, 1, 2);
    # the one left over goes to the lowest margin of what remains.
    probs = np.array([[0.90, 0.05, 0.05], [0.40, 0.35, 0.25], [0.10, 0.80, 0.10], [0.10, 0.50, 0.40],
                      [0.05, 0.05, 0.90], [0.20, 0.20, 0.60], [0.30, 0.30, 0.40], [0.80, 0.10, 0.10]])  # fmt: skip
    labeled = np.zeros(16, dtype=bool)
    labeled[8:] = True
    labels = np.r_[np.full(8, -1), [0] * 6, [1] * 2]
    view = PoolView(labeled=labeled, probs=np.r_[probs, np.full((8, 3), 1 / 3)], labels=labels, n_classes=3)
    picked = class_balanced_margin(view, 4, np.arange(8))
    # class 1: item 3 (margin 1 - 0.10 = 0.90); class 2: items 6 (0.90) and 5 (0.60); rest: item 1 (0.95)
    assert picked.tolist() == [3, 6, 5, 1]
    assert class_balanced_margin(view, 0, np.arange(8)).size == 0


def test_replay_and_long_tail_wait_for_five_labels_per_class(monkeypatch):
    import labelwise.strategies.auto as auto

    monkeypatch.setattr(auto, "labeled_coverage", lambda view: 0.0)  # neither coverage nor the ceiling decides
    monkeypatch.setattr(auto, "typical_labels_teach_more", lambda view: False)  # the replay says "switch"
    X, y = hard_pair_and_rare_class(0, rare=500)
    # 3 classes: 14 labels are below one per class per held-out fold (15), so the replay is not asked yet.
    assert auto_phase(labels_view(X, y, np.r_[0:5, 500:505, 1000:1004], 3)) == "typiclust"
    assert auto_phase(labels_view(X, y, np.r_[0:5, 500:505, 1000:1005], 3)) == "cluster-margin"


def test_long_tailed_pool_leaves_the_typical_phase_at_five_labels_per_class(monkeypatch):
    import labelwise.strategies.auto as auto

    monkeypatch.setattr(auto, "labeled_coverage", lambda view: 0.0)
    monkeypatch.setattr(auto, "typical_labels_teach_more", lambda view: True)  # the replay says "stay typical"
    X, y = hard_pair_and_rare_class(0)
    view = labels_view(X, y, np.r_[0:7, 500:507, 1000:1002], 3)  # 16 labels, the rare class's share far below
    assert class_balanced(view) and auto_phase(view) == "cluster-margin"
    balanced_X, balanced_y = hard_pair_and_rare_class(0, rare=500)
    balanced = labels_view(balanced_X, balanced_y, np.r_[0:6, 500:506, 1000:1004], 3)
    assert not class_balanced(balanced) and auto_phase(balanced) == "typiclust"


def test_classes_without_labels_do_not_count_in_the_imbalance():
    # Three balanced classes, labels of two: the third's share is near zero, but nobody has labeled it yet.
    X, y = hard_pair_and_rare_class(0, rare=500)
    two = labels_view(X, y, np.r_[0:10, 500:510], 3)
    probs = np.c_[np.asarray(two.probs) * 0.999, np.full(len(X), 0.001)]  # a head over 3 classes, one unseen
    view = PoolView(labeled=two.labeled, embeddings=X, labels=two.labels, probs=probs, n_classes=3)
    share = probs.mean(axis=0)
    assert share.max() / share.min() >= IMBALANCE_RATIO  # what counting every class would read
    assert predicted_imbalance(view) < 2.0
