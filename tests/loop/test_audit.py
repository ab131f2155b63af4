from __future__ import annotations

import numpy as np
import pytest

from labelwise.loop.audit import (
    MIN_AUDIT_LABELS,
    add_audit_picks,
    audit_count,
    audit_estimate,
    wilson_interval,
    window_mask,
)
from labelwise.loop.ranking import build_queue
from labelwise.strategies import PoolView, get_strategy


def test_audit_count_is_at_least_one_per_batch():
    assert audit_count(0.05, 10) == 1
    assert audit_count(0.05, 200) == 10
    assert audit_count(0.0, 200) == 0
    assert audit_count(1.0, 7) == 7


def test_audit_picks_replace_the_lowest_ranked_and_keep_the_batch_size():
    rng = np.random.default_rng(0)
    batch = np.arange(100, 120)  # ranked best first
    free = np.arange(100, 1000)
    out, is_audit = add_audit_picks(batch, free, 0.1, rng)
    assert out.size == 20 and np.unique(out).size == 20
    assert is_audit.sum() == 2
    assert set(out[~is_audit]) == set(range(100, 118))  # the two lowest-ranked made room
    assert np.isin(out[is_audit], free).all()


def test_audit_picks_are_uniform_over_the_free_pool():
    # The strategy always picks 0..9; audit picks must hit every free image about equally often.
    rng = np.random.default_rng(1)
    free = np.arange(50)
    counts = np.zeros(50)
    for _ in range(5000):
        out, is_audit = add_audit_picks(np.arange(10), free, 0.1, rng)
        counts[out[is_audit]] += 1
    assert counts.sum() == 5000
    assert counts.min() > 60 and counts.max() < 145  # expected 100 each


def test_audit_picks_refuse_a_bad_fraction():
    with pytest.raises(ValueError, match="audit_fraction"):
        add_audit_picks(np.arange(5), np.arange(10), float("nan"), np.random.default_rng(0))
    with pytest.raises(ValueError, match="audit_fraction"):
        add_audit_picks(np.arange(5), np.arange(10), 1.5, np.random.default_rng(0))


def _queue(strategy: str, pool: int, queue_size: int, fraction: float, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(pool, 4))
    labeled = np.zeros(pool, dtype=bool)
    labeled[:2] = True
    probs = rng.dirichlet(np.ones(3), size=pool)
    view = PoolView(labeled=labeled, probs=probs, embeddings=X, labels=np.where(labeled, [0, 1] + [0] * (pool - 2), -1),
                    n_classes=3)  # fmt: skip
    return build_queue(get_strategy(strategy), view, batch_size=10, queue_size=queue_size, seed=seed,
                       audit_fraction=fraction)  # fmt: skip


@pytest.mark.parametrize("strategy", ["margin", "typiclust"])
def test_every_queue_batch_holds_an_audit_pick_and_no_image_twice(strategy):
    queue = _queue(strategy, 1000, 45, 0.05, 2)
    assert queue.indices.size == 45 and np.unique(queue.indices).size == 45
    for number in range(1, 6):
        batch = queue.batch(number)
        assert sum(p.audit for p in batch) == 1
        assert all(p.strategy == "audit: random" for p in batch if p.audit)


def test_audit_picks_in_a_small_pool_are_listed_once():
    # A small pool: audit draws keep landing on what later batches would choose.
    for seed in range(20):
        queue = _queue("margin", 52, 45, 0.1, seed)
        assert queue.indices.size == 45 and np.unique(queue.indices).size == 45
        assert [sum(p.audit for p in queue.batch(k)) for k in range(1, 6)] == [1, 1, 1, 1, 1]


def test_wilson_interval_matches_known_values():
    # Brown, Cai & DasGupta (2001): 0 of 10 gives (0, 0.2775); 8 of 10 (0.4902, 0.9433).
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_estimate_says_too_few_instead_of_a_number():
    few = audit_estimate(np.zeros(MIN_AUDIT_LABELS - 1), np.zeros(MIN_AUDIT_LABELS - 1))
    assert few.value is None and few.low is None and not few.measured
    assert "too few" in few.reason and few.n == MIN_AUDIT_LABELS - 1
    est = audit_estimate(np.array([1, 1, 1, 0] * 5), np.ones(20))
    assert est.value == pytest.approx(0.75) and est.n == 20
    assert est.low < 0.75 < est.high


def test_estimate_covers_the_truth_at_the_nominal_rate():
    rng = np.random.default_rng(3)
    truth, covered = 0.8, 0
    for _ in range(2000):
        right = rng.random(30) < truth
        est = audit_estimate(right.astype(int), np.ones(30, dtype=int))
        covered += est.low <= truth <= est.high
    assert 0.92 <= covered / 2000 <= 0.98


def test_window_keeps_recent_versions_and_widens_to_the_minimum():
    served = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150])
    keep = window_mask(served, 160, min_n=3)
    assert served[keep].min() == 80  # versions trained on at least half of the newest's 160 labels
    keep = window_mask(served, 1000, min_n=3)
    assert served[keep].tolist() == [130, 140, 150]
