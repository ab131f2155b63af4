"""Layouts on which a wrong version of an algorithm gives a different answer than the right one."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import PoolView, get_strategy
from labelwise.strategies.diversity import purity_radius


def view_of(X, labeled_idx=(), probs=None, n_classes=3):
    labeled = np.zeros(len(X), dtype=bool)
    labeled[list(labeled_idx)] = True
    return PoolView(labeled=labeled, embeddings=np.asarray(X, dtype=np.float32), probs=probs, n_classes=n_classes)


def test_kcenter_spreads_over_a_grid_from_a_labeled_centre():
    grid = np.array([[x, y] for x in range(9) for y in range(9)], dtype=float)
    centre = 4 * 9 + 4
    picked = get_strategy("kcenter").query(view_of(grid, [centre]), 4, seed=0)
    # Farthest-first from the centre takes the four corners, each farther from the others than
    # from the centre; a version that forgot its picks would take one corner and its neighbours.
    assert sorted(map(tuple, grid[picked].astype(int).tolist())) == [(0, 0), (0, 8), (8, 0), (8, 8)]
    fifth = get_strategy("kcenter").query(view_of(grid, [centre, *picked]), 1, seed=0)
    assert tuple(grid[fifth[0]].astype(int)) in {(0, 4), (4, 0), (8, 4), (4, 8)}  # an edge midpoint


def test_kcenter_leaves_a_clump_after_its_first_member():
    clump = np.column_stack([np.linspace(10, 10.2, 20), np.zeros(20)])
    X = np.vstack([[[0.0, 0.0]], clump, [[-9.0, 0.0]], [[0.0, 7.0]]])
    picked = get_strategy("kcenter").query(view_of(X, [0]), 3, seed=0)
    assert set(picked.tolist()) >= {21, 22} and len(set(picked.tolist()) & set(range(1, 21))) == 1


def test_kcenter_from_nothing_takes_the_most_central_item_first():
    X = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [10, 0]])
    assert get_strategy("kcenter").query(view_of(X), 1, seed=0).tolist() == [3]
    assert get_strategy("kcenter").query(view_of(X), 0, seed=0).size == 0


def coverage_layout():
    """Three tight blobs far apart, and four lone points far from everything."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    blobs = np.concatenate([rng.normal(c, 0.3, size=(40, 2)) for c in centres])
    lone = np.array([[80.0, 80.0], [-80.0, 80.0], [80.0, -80.0], [-80.0, -80.0]])
    return np.vstack([blobs, lone]), np.repeat(np.arange(3), 40)


def test_probcover_covers_each_blob_once_then_each_lone_point():
    X, blob = coverage_layout()
    for seed in range(3):
        picked = get_strategy("probcover").query(view_of(X), 7, seed=seed)
        in_blobs = picked[picked < 120]
        # One ball covers a blob: a second pick in it gains nothing. The lone points gain one each
        # and must still be taken (a greedy that stopped at gain 1 would leave them to chance).
        assert sorted(blob[in_blobs].tolist()) == [0, 1, 2], picked
        assert set(picked[picked >= 120].tolist()) == {120, 121, 122, 123}
        assert set(picked[:3].tolist()) <= set(range(120))  # the big gains first


def test_probcover_skips_what_the_labels_already_cover():
    X, blob = coverage_layout()
    labeled = [0, 40]  # blobs 0 and 1 are covered
    picked = get_strategy("probcover").query(view_of(X, labeled), 1, seed=0)
    assert picked[0] < 120 and blob[picked[0]] == 2


def test_probcover_radius_is_the_purity_quantile():
    # On a line: classes alternate in runs; the nearest other-class point is known by hand.
    Z = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]], dtype=np.float32)
    pseudo = np.array([0, 0, 0, 1, 1, 2])
    # Nearest point of another pseudo-class: 10, 9, 8, 8, 9, 19; the median is 9.
    assert purity_radius(Z, pseudo, purity=0.5) == pytest.approx(9.0, rel=1e-5)
    assert purity_radius(Z, pseudo, purity=1.0) == pytest.approx(8.0, rel=1e-5)
    assert purity_radius(Z, np.zeros(6, dtype=int)) == 0.0  # one pseudo-class: no impure ball


def gradient_groups():
    """Items with three distinct (probs, embedding) pairs: 1, 1 and 60 copies."""
    probs = np.array([[0.34, 0.33, 0.33]] * 1 + [[0.5, 0.3, 0.2]] * 1 + [[0.6, 0.35, 0.05]] * 60)
    X = np.array([[5.0, 5.0]] * 1 + [[-3.0, 1.0]] * 1 + [[0.5, -2.0]] * 60)
    group = np.array([0, 1] + [2] * 60)
    return X, probs, group


@pytest.mark.parametrize("seed", range(8))
def test_badge_takes_each_distinct_gradient_once(seed):
    X, probs, group = gradient_groups()
    picked = get_strategy("badge").query(view_of(X, probs=probs), 3, seed=seed)
    assert sorted(group[picked].tolist()) == [0, 1, 2]  # k-means++ never re-picks a gradient it has
    r = probs.copy()
    r[np.arange(len(r)), probs.argmax(1)] -= 1
    norms = (r * r).sum(1) * ((X * X).sum(1) + 1)
    assert picked[0] == norms.argmax() == 0  # the largest gradient first


@pytest.mark.parametrize("seed", range(3))
def test_cluster_margin_round_robin_over_several_passes(seed):
    # Items at three places only (3, 5 and 8 copies): three clusters whatever n is, so a batch
    # takes several passes, one item per cluster each, the smallest cluster first.
    places = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    copies = np.array([3, 5, 8])
    X = np.repeat(places, copies, axis=0)
    where = np.repeat(np.arange(3), copies)
    probs = np.random.default_rng(seed).dirichlet(np.ones(3) * 5, size=len(X))
    for n, expected in ((3, [1, 1, 1]), (7, [3, 2, 2]), (12, [3, 5, 4]), (16, [3, 5, 8])):
        picked = get_strategy("cluster-margin").query(view_of(X, probs=probs), n, seed=seed)
        # passes of 3, 3, 3, then 2 (the smallest cluster is used up), truncated to n
        assert np.bincount(where[picked], minlength=3).tolist() == expected, (n, picked)
        assert len(set(picked.tolist())) == n and where[picked[0]] == 0


def test_auto_is_margin_per_cluster_plus_its_exploration_share_after_the_typical_phase(monkeypatch):
    from labelwise.strategies.auto import margin_per_cluster

    monkeypatch.setattr("labelwise.strategies.auto.SWITCH_COVERAGE", 0.0)  # past the typical phase
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 4)).astype(np.float32)
    probs = rng.dirichlet(np.ones(3), size=900)
    view = view_of(X, labeled_idx=range(60), probs=probs)
    for n in (10, 20, 30):
        picked = get_strategy("auto").query(view, n, seed=4)
        exploit = n - round(0.1 * n)
        expected = margin_per_cluster(view, exploit, np.flatnonzero(view.selectable))
        np.testing.assert_array_equal(picked[:exploit], expected)
        assert picked.size == n and len(set(picked.tolist())) == n


def test_badge_first_pick_weighs_the_embedding_norm_plus_one():
    # |g|^2 = |r|^2 (|x|^2 + 1): a small-norm item with a larger residual beats a larger-norm one.
    X = np.array([[0.0, 0.0], [0.9, 0.0], [0.0, 0.1]])
    probs = np.array([[0.4, 0.3, 0.3], [0.7, 0.2, 0.1], [0.9, 0.05, 0.05]])
    assert get_strategy("badge").query(view_of(X, probs=probs), 1, seed=0).tolist() == [0]
    # |r|^2 = 0.54 at the origin against 0.14 at |x|^2 = 4: 0.54 x 1 < 0.14 x 5 = 0.70, so the far
    # item wins (with |x|^2 + 2 it would lose: 1.08 > 0.84).
    X, probs = np.array([[0.0, 0.0], [2.0, 0.0]]), probs[:2]
    assert get_strategy("badge").query(view_of(X, probs=probs), 1, seed=0).tolist() == [1]


def test_badge_stops_sampling_when_every_gradient_is_taken():
    X, probs, group = gradient_groups()
    two = group != 1  # only two distinct gradients left
    picked = get_strategy("badge").query(view_of(X[two], probs=probs[two]), 5, seed=0)
    assert picked.size == 5 and len(set(picked.tolist())) == 5
    assert sorted(group[two][picked[:2]].tolist()) == [0, 2]  # both gradients, then explorers


@pytest.mark.parametrize("name", ["badge", "kcenter", "typiclust", "probcover", "cluster-margin", "auto", "margin"])
def test_a_batch_of_zero_is_empty(name):
    X, probs, _ = gradient_groups()
    assert get_strategy(name).query(view_of(X, probs=probs), 0, seed=0).size == 0


def test_cluster_margin_groups_by_the_views_pool_clusters_when_it_has_them():
    # Two places; the pool clustering puts the first place in one cluster of 8 and splits the second
    # into clusters of 3, 3 and 2. Smallest clusters first, a batch of 2 takes both from the second
    # place, where k-means on the items themselves (two clusters: the places) takes one of each.
    X = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0]]), 8, axis=0) + np.random.default_rng(1).normal(0, 0.01, (16, 2))
    clusters = np.array([0] * 8 + [1, 1, 1, 2, 2, 2, 3, 3])
    probs = np.random.default_rng(0).dirichlet(np.ones(3) * 5, size=len(X))
    view = PoolView(labeled=np.zeros(len(X), dtype=bool), embeddings=X.astype(np.float32), probs=probs,
                    n_classes=3, clusters=clusters)  # fmt: skip
    picked = get_strategy("cluster-margin").query(view, 2, seed=0)
    assert clusters[picked[0]] == 3 and clusters[picked[1]] in (1, 2)
    alone = get_strategy("cluster-margin").query(view_of(X, probs=probs), 2, seed=0)
    assert sorted((alone // 8).tolist()) == [0, 1]


@pytest.mark.parametrize("seed", range(3))
def test_probcover_is_greedy_maximum_coverage_of_its_balls(monkeypatch, seed):
    """With the radius fixed, every pick covers the most points not yet covered (the labels'
    balls covered from the start), and picking stops only when nothing is left uncovered.
    Integer grid points and delta = 1.5 keep every distance clear of the radius."""
    import labelwise.strategies.diversity as diversity

    monkeypatch.setattr(diversity, "purity_radius", lambda Z, pseudo, purity=0.95: 1.5)
    rng = np.random.default_rng(seed)
    grid = np.array([[x, y] for x in range(10) for y in range(10)], dtype=float)
    X = np.vstack([[[50.0, 50.0]], grid[rng.choice(100, 55, replace=False)]])  # item 0 is alone
    labeled = rng.choice(np.arange(1, 56), 6, replace=False)
    balls = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2) <= 1.5**2
    selection = get_strategy("probcover").rank(view_of(X, labeled), 50, seed=seed)
    greedy = selection.indices[~selection.explored]
    covered = balls[labeled].any(axis=0)
    unpicked = ~view_of(X, labeled).labeled
    for i in greedy:
        gains = np.where(unpicked, (balls & ~covered).sum(axis=1), -1)
        assert (balls[i] & ~covered).sum() == gains.max() > 0
        covered |= balls[i]
        unpicked[i] = False
    assert covered.all() and 0 in greedy.tolist()
    assert len(greedy) < 50  # it stopped once everything was covered


def test_probcover_counts_a_point_covered_twice_once():
    """Two stars whose balls (delta = 1) share one point x, and a point c that only x's ball and its
    own reach. The stars come first; then c is the one point left uncovered and is taken (or x,
    which covers it). A greedy that took x away from c's gain once per star covering it would see
    nothing left to gain and stop with c uncovered."""
    import labelwise.strategies.diversity as diversity

    # A centre and four satellites each within 1 of it, on the side away from x: only the centre
    # reaches x, and the centre's ball is the largest in its star.
    star = np.array([[0.0, 0.0], [-0.9, 0.0], [-0.5, 0.8], [-0.5, -0.8], [0.0, -0.95]])
    x, c = [0.9, 0.0], [0.9, 0.95]
    X = np.vstack([star, star * [-1, 1] + [1.8, 0.0], [x, c]])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(diversity, "purity_radius", lambda Z, pseudo, purity=0.95: 1.0)
        for seed in range(3):
            selection = get_strategy("probcover").rank(view_of(X), 3, seed=seed)
            assert not selection.explored.any()
            assert sorted(selection.indices[:2].tolist()) == [0, 5]  # the two star centres
            assert selection.indices[2] in (10, 11)  # x or c


def test_probcover_above_its_sample_size_ranks_a_sample_of_candidates_and_labels(monkeypatch):
    # Big pools are ranked on a sample of PROBCOVER_SAMPLE candidates and as many labels; set to
    # 30 here so that both samples are taken. Blob 0 is labeled (40 labels, 30 of them sampled),
    # so the two picks are one in each other blob.
    import labelwise.strategies.diversity as diversity

    monkeypatch.setattr(diversity, "PROBCOVER_SAMPLE", 30)
    X, blob = coverage_layout()
    for seed in range(3):
        picked = get_strategy("probcover").query(view_of(X, range(40)), 2, seed=seed)
        assert sorted(blob[picked].tolist()) == [1, 2], picked


def test_cluster_margin_batch_of_one_is_among_the_lowest_margins():
    # One cluster of the CLUSTER_MARGIN_PREFILTER lowest-margin items; the pick is one of them.
    from labelwise.strategies.hybrid import CLUSTER_MARGIN_PREFILTER

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    probs = rng.dirichlet(np.ones(4), size=40)
    top2 = np.sort(probs, axis=1)[:, -2:]
    lowest = np.argsort(top2[:, 1] - top2[:, 0])[:CLUSTER_MARGIN_PREFILTER]
    for seed in range(3):
        selection = get_strategy("cluster-margin").rank(view_of(X, probs=probs, n_classes=4), 1, seed=seed)
        assert not selection.explored.any()  # chosen by cluster-margin, not filled at random
        assert selection.indices.size == 1 and selection.indices[0] in lowest


def test_kcenter_from_nothing_draws_among_equally_central_items():
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])  # both are 1 from the mean
    firsts = {get_strategy("kcenter").query(view_of(X), 1, seed=s)[0] for s in range(12)}
    assert firsts == {0, 1}  # the seed decides, not the pool order
