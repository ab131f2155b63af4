from __future__ import annotations

import numpy as np
import pytest

from labelwise.loop.audit import (
    MIN_AUDIT_LABELS,
    accuracy_estimate,
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


def _learning_curve(n: np.ndarray) -> np.ndarray:
    """A true accuracy rising like the demo's (0.45 at 10 labels, 0.78 at 150, 0.82 at 300)."""
    return 0.86 - 0.55 * (n / 10.0) ** -0.55


def _streams(seeds: int, newest: int, per: int = 10):
    """Simulated audit outcomes: one audit label per ``per`` labels, each right with the true
    accuracy of the version that served it (an unbiased test of that version)."""
    rng = np.random.default_rng(7)
    served = np.arange(10, newest, per)
    for _ in range(seeds):
        right = (rng.random(served.size) < _learning_curve(served)).astype(int)
        yield served, right, np.ones_like(right)


def test_trend_estimate_removes_the_lag_of_the_window():
    # At 200 labels the window reaches back to versions trained on 100, up to 5 points worse.
    newest, truth = 200, float(_learning_curve(np.array(200)))
    new, old, covered = [], [], 0
    for served, predicted, true in _streams(600, newest):
        est = accuracy_estimate(served, predicted, true, newest)
        keep = window_mask(served, newest)
        new.append(est.value)
        old.append(audit_estimate(predicted[keep], true[keep]).value)
        covered += est.low <= truth <= est.high
    assert abs(np.mean(new) - truth) < 0.013  # measured +0.2 points
    assert np.mean(old) - truth < -0.02  # the window lags: -2.4 points
    assert 0.93 <= covered / 600 <= 0.995


def test_trend_estimate_is_calibrated_after_30_audit_labels():
    newest, truth = 400, float(_learning_curve(np.array(400)))
    estimates = [accuracy_estimate(*stream, newest) for stream in _streams(600, newest)]
    # every stream holds 39 audit labels, served by versions trained on 10 to 390 labels
    values = np.array([e.value for e in estimates])
    covered = np.mean([e.low <= truth <= e.high for e in estimates])
    assert abs(values.mean() - truth) < 0.015  # measured -0.7; the window: -2.5
    assert 0.92 <= covered <= 0.99
    assert np.mean([e.low > truth for e in estimates]) < 0.03  # the lower end rarely overstates


def test_trend_falls_back_to_the_window_when_ill_posed():
    served = np.arange(10, 200, 10)
    right = np.ones(served.size, dtype=int)  # all right: no trend can be fitted
    est = accuracy_estimate(served, right, np.ones_like(right), 200)
    keep = window_mask(served, 200)
    assert est == audit_estimate(right[keep], np.ones_like(right)[keep])
    one_version = np.full(12, 50)
    mixed = np.array([1, 0] * 6)
    assert accuracy_estimate(one_version, mixed, np.ones(12, dtype=int), 60).value == pytest.approx(0.5)
    falling = np.array([1] * 12 + [0, 1, 0, 0, 1, 0, 0])  # right early, wrong late: noise, not a curve
    keep = window_mask(served, 200)
    assert accuracy_estimate(served, falling, np.ones_like(falling), 200) == audit_estimate(
        falling[keep], np.ones_like(falling)[keep]
    )
    few = accuracy_estimate(served[:5], np.array([1, 0, 1, 0, 1]), np.ones(5, dtype=int), 60)
    assert not few.measured and "too few" in few.reason
