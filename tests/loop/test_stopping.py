from __future__ import annotations

import numpy as np

from labelwise.loop import (
    LabelBudget,
    LowUncertainty,
    MaxRounds,
    RoundRecord,
    StabilizingPredictions,
    TargetMetric,
)


def record(round_, n, metrics=None, preds=None, unc=None):
    return RoundRecord(round_, n, "margin", metrics or {}, None, preds, unc)


def test_label_budget_and_labels_left():
    crit = LabelBudget(100)
    assert not crit.check([record(0, 60)]).met
    assert crit.labels_left([record(0, 60)]) == 40
    decision = crit.check([record(3, 100)])
    assert decision.met and "100 of 100" in decision.reason


def test_max_rounds():
    assert not MaxRounds(3).check([record(2, 10)]).met
    assert MaxRounds(3).check([record(3, 10)]).met


def test_target_metric_uses_held_out_then_the_audit_interval_never_cross_validation():
    crit = TargetMetric(0.9)
    assert not crit.check([record(0, 10, {})]).met
    assert crit.check([record(1, 10, {"accuracy": 0.91})]).met
    # Cross-validated on actively chosen labels: optimistic, so it never stops the labeling (issue 19).
    decision = crit.check([record(1, 10, {"cv_accuracy": 0.97})])
    assert not decision.met and "not measured" in decision.reason
    # The audit estimate counts by the lower end of its interval, not by its point value.
    assert not crit.check([record(1, 10, {"audit_accuracy": 0.95, "audit_accuracy_low": 0.85})]).met
    decision = crit.check([record(1, 10, {"audit_accuracy": 0.97, "audit_accuracy_low": 0.91})])
    assert decision.met and "lower end" in decision.reason and "0.910" in decision.reason
    assert not crit.check([record(1, 10, {"audit_accuracy_low": float("nan")})]).met


def test_stabilizing_predictions_needs_window_agreeing_pairs():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 3, 500)
    changed = base.copy()
    changed[:100] = (changed[:100] + 1) % 3
    crit = StabilizingPredictions(kappa=0.99, window=3)
    moving = [record(i, 10 * i, preds=p) for i, p in enumerate([changed, base, base, base])]
    assert not crit.check(moving).met  # first pair disagrees on 100 of 500
    stable = [*moving, record(4, 40, preds=base)]
    assert crit.check(stable).met
    assert not crit.check(stable[:2]).met  # too few models yet


def test_low_uncertainty():
    assert not LowUncertainty(0.05).check([record(0, 10)]).met
    assert LowUncertainty(0.05).check([record(0, 10, unc=0.04)]).met
    assert not LowUncertainty(0.05).check([record(0, 10, unc=0.2)]).met


def test_criteria_combine():
    history = [record(5, 50, {"accuracy": 0.5})]
    either = LabelBudget(50) | TargetMetric(0.9)
    both = LabelBudget(50) & TargetMetric(0.9)
    assert either.check(history).met and "50 of 50" in either.check(history).reason
    assert not both.check(history).met
    assert either.labels_left([record(0, 20)]) == 30
    assert (MaxRounds(3) | LabelBudget(40) | LabelBudget(30)).labels_left([record(0, 20)]) == 10
    assert (LabelBudget(40) & MaxRounds(3)).labels_left([record(0, 20)]) is None
