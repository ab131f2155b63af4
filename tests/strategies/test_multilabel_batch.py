"""Multi-label batch diversity: the cluster round-robin spreads a batch over clusters, BADGE over gradients."""

from __future__ import annotations

import numpy as np

from labelwise.strategies.multilabel_batch import binary_badge, cluster_round_robin


def test_cluster_round_robin_takes_one_item_per_cluster_where_top_n_would_take_one_cluster():
    rng = np.random.default_rng(0)
    # Two tight, far apart clusters of 10 items; cluster A (0..9) scores higher than cluster B (10..19),
    # and 20 more items (20..39) score too low to pass the 10 n prefilter.
    embeddings = np.concatenate([rng.normal(0, 0.01, (10, 3)), rng.normal(5, 0.01, (10, 3)), rng.normal(2, 1, (20, 3))])
    scores = np.concatenate([np.linspace(1.0, 0.91, 10), np.linspace(0.9, 0.81, 10), np.zeros(20)])
    picked = cluster_round_robin(scores, embeddings, 2, np.random.default_rng(1), np.arange(40))
    assert sorted(p // 10 for p in picked) == [0, 1]  # top-2 by score would take two items of A
    assert np.argsort(-scores)[:2].tolist() == [0, 1]


def test_cluster_round_robin_only_takes_candidates():
    scores, embeddings = np.arange(30.0), np.random.default_rng(0).normal(size=(30, 2))
    picked = cluster_round_robin(scores, embeddings, 4, np.random.default_rng(0), np.arange(0, 30, 2))
    assert picked.size == 4 and np.all(picked % 2 == 0)


def test_binary_badge_starts_at_the_largest_gradient_and_skips_a_copy():
    # Items 0 and 1 are the same doubtful image; item 2 is sure of its classes (a small gradient) but elsewhere.
    probs = np.array([[0.5, 0.45], [0.5, 0.45], [0.99, 0.01]])
    embeddings = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    picked = binary_badge(probs, embeddings, 2, np.random.default_rng(0), np.arange(3))
    assert picked[0] in (0, 1) and picked[1] == 2


def test_binary_badge_gradient_norm_grows_with_doubtful_classes():
    # One doubtful class against two: the first pick of a batch of one is the item with the larger gradient.
    probs = np.array([[0.5, 0.01], [0.5, 0.5]])
    embeddings = np.ones((2, 2))
    assert binary_badge(probs, embeddings, 1, np.random.default_rng(0), np.arange(2)).tolist() == [1]
