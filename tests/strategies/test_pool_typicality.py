"""TypiClust on a pool's label-independent clustering and typicality, computed once per pool
(strategies/diversity.py: pool_typicality, fold_in_typicality, the precomputed path of typiclust_select)."""

from __future__ import annotations

import numpy as np

from labelwise.strategies import PoolView, get_strategy
from labelwise.strategies.diversity import fold_in_typicality, pool_typicality, typicality, typiclust_select
from labelwise.strategies.geometry import assign_to_clusters, cluster_pool


def blobs(n_per: int, centres: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([c + rng.normal(scale=0.3, size=(n_per, centres.shape[1])) for c in centres]).astype(
        np.float32
    )


def test_pool_typicality_is_each_items_typicality_within_its_cluster():
    X = blobs(40, np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 9.0]]))
    clusters = np.repeat([2, 0, 1], 40)
    got = pool_typicality(X, clusters)
    for c in range(3):
        members = np.flatnonzero(clusters == c)
        np.testing.assert_allclose(got[members], typicality(X[members]))


def test_pool_typicality_measures_against_a_reference_of_the_members_when_clusters_are_large():
    X = blobs(300, np.array([[0.0, 0.0]]))
    clusters = np.zeros(300, dtype=np.int64)
    np.testing.assert_allclose(pool_typicality(X, clusters, reference=50), typicality(X, reference=50))
    # The centre of the blob is denser than its rim, with or without the reference sample.
    near_centre = np.argsort(np.linalg.norm(X - X.mean(axis=0), axis=1))
    t = pool_typicality(X, clusters, reference=50)
    assert t[near_centre[:30]].mean() > t[near_centre[-30:]].mean()


def test_new_items_get_their_typicality_against_the_members_of_the_cluster_they_joined():
    X = blobs(50, np.array([[0.0, 0.0], [6.0, 0.0]]))
    clusters = np.repeat([0, 1], 50)
    new = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    joined = assign_to_clusters(X, clusters, new)
    t = fold_in_typicality(X, clusters, new, joined)
    members = np.flatnonzero(clusters == joined[2])
    d = np.sort(np.linalg.norm(X[members] - new[2], axis=1))[:20]
    np.testing.assert_allclose(t[2], 1.0 / d.mean(), rtol=1e-5)
    assert t[0] > t[2] and t[1] > t[2]  # a blob's centre is more typical than a point between blobs


def test_precomputed_typiclust_takes_the_most_typical_free_item_of_the_largest_unlabeled_cluster():
    X = blobs(30, np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]]))
    X = np.concatenate([X, blobs(10, np.array([[8.0, 8.0]]), seed=1)])
    clusters = np.repeat([0, 1, 2, 3], [30, 30, 30, 10])
    labeled = np.zeros(100, dtype=bool)
    labeled[[0, 31]] = True  # clusters 0 and 1 hold a label each
    typical = np.random.default_rng(1).random(100)
    view = PoolView(labeled=labeled, embeddings=X, clusters=clusters, typicality=typical)
    candidates = np.flatnonzero(~labeled)
    picks = typiclust_select(view, 4, np.random.default_rng(0), candidates)  # 2 labels + 4 > 4 clusters: as is
    cluster_2 = np.arange(60, 90)
    cluster_3 = np.arange(90, 100)
    assert picks[0] == cluster_2[np.argmax(typical[cluster_2])]  # no label, the larger
    assert picks[1] == cluster_3[np.argmax(typical[cluster_3])]
    assert sorted(clusters[picks[2:]]) == [0, 1]


def test_fewer_typiclust_clusters_than_pool_clusters_group_whole_pool_clusters():
    X = blobs(25, np.array([[0.0, 0.0], [0.5, 0.0], [9.0, 9.0], [9.5, 9.0]]))
    pool_clusters = np.repeat([0, 1, 2, 3], 25)
    typical = np.arange(100, dtype=float)  # the last member of each pool cluster is its most typical
    view = PoolView(labeled=np.zeros(100, dtype=bool), embeddings=X, clusters=pool_clusters, typicality=typical)
    picks = typiclust_select(view, 2, np.random.default_rng(0), np.arange(100))
    # Two clusters: {0, 1} and {2, 3}; from each, its most typical item, which lies in pool cluster 1 or 3.
    assert sorted(picks.tolist()) == [49, 99]


def test_the_registered_strategies_read_the_precomputed_arrays_and_stay_pure():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8)).astype(np.float32)
    clusters = cluster_pool(X, 0)
    view = PoolView(labeled=np.zeros(400, dtype=bool), embeddings=X, clusters=clusters,
                    typicality=pool_typicality(X, clusters))  # fmt: skip
    for name in ("typiclust", "auto"):
        strategy = get_strategy(name)
        assert strategy.uses_typicality
        first = strategy.query(view, 10, seed=4)
        assert first.tolist() == strategy.query(view, 10, seed=4).tolist()  # same view, same seed: same batch
        assert len(set(first.tolist())) == 10


def test_auto_asks_for_typicality_only_in_its_typiclust_phase():
    from labelwise.strategies.auto import MAX_TYPICAL_LABELS_PER_CLASS

    auto = get_strategy("auto")
    X = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    cold = PoolView(labeled=np.zeros(100, dtype=bool), embeddings=X, n_classes=2)
    assert auto.reads_typicality(cold)  # no model: TypiClust
    labeled = np.zeros(100, dtype=bool)
    labeled[: 2 * MAX_TYPICAL_LABELS_PER_CLASS] = True
    probs = np.full((100, 2), 0.5)
    assert not auto.reads_typicality(PoolView(labeled=labeled, probs=probs, embeddings=X, n_classes=2))


def test_the_loop_measures_typicality_only_for_a_large_pool_and_a_strategy_that_reads_it(monkeypatch):
    from labelwise.loop.active_loop import ActiveLoop

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    monkeypatch.setattr("labelwise.loop.active_loop.TYPICALITY_ONCE_FROM", 200)
    view = ActiveLoop(X, 2, strategy="typiclust").pool_view()
    assert view.typicality is not None and view.clusters is not None
    np.testing.assert_allclose(view.typicality, pool_typicality(X, view.clusters))
    assert ActiveLoop(X, 2, strategy="margin").pool_view().typicality is None
    busy = ActiveLoop(X, 2, strategy="auto")
    busy.teach(np.arange(60), np.arange(60) % 2)  # 30 labels per class: past auto's typical phase
    busy.fit()
    assert busy.pool_view().typicality is None and busy.pool_typicality is None
    monkeypatch.setattr("labelwise.loop.active_loop.TYPICALITY_ONCE_FROM", 301)
    assert ActiveLoop(X, 2, strategy="typiclust").pool_view().typicality is None
