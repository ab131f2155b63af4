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


# -- combinations that are not met, exact limits and reasons --------------------------------
def test_any_of_is_not_met_while_none_of_its_criteria_is():
    history = [record(0, 10, {"accuracy": 0.5})]
    decision = (LabelBudget(100) | TargetMetric(0.9) | MaxRounds(5)).check(history)
    assert not decision.met
    assert decision.reason == "10 of 100 labels used; accuracy 0.500 against target 0.900; 0 of 5 rounds done"
    assert not (LabelBudget(100) | TargetMetric(0.9)).check([]).met  # round 0, nothing recorded


def test_any_of_gives_only_the_reasons_of_the_criteria_met():
    decision = (LabelBudget(100) | MaxRounds(2)).check([record(2, 10)])
    assert decision.met and decision.reason == "2 of 2 rounds done"


def test_all_of_needs_every_criterion_on_either_side_of_the_ampersand():
    reached_target = [record(1, 10, {"accuracy": 0.95})]
    assert not (LabelBudget(50) & TargetMetric(0.9)).check(reached_target).met  # the budget is not used up
    assert not (TargetMetric(0.9) & LabelBudget(50)).check(reached_target).met
    both = [record(4, 50, {"accuracy": 0.95})]
    decision = (LabelBudget(50) & TargetMetric(0.9)).check(both)
    assert decision.met and decision.reason == "50 of 50 labels used; accuracy 0.950 against target 0.900"
    combined = LabelBudget(50) & TargetMetric(0.9)
    assert [type(c) for c in combined.criteria] == [LabelBudget, TargetMetric]
    assert [type(c) for c in (LabelBudget(50) | TargetMetric(0.9)).criteria] == [LabelBudget, TargetMetric]


def test_all_of_two_budgets_allows_the_larger_and_any_of_the_smaller():
    history = [record(0, 20)]
    assert (LabelBudget(40) & LabelBudget(30)).labels_left(history) == 20
    assert (LabelBudget(30) & LabelBudget(40)).labels_left(history) == 20
    assert (LabelBudget(40) | LabelBudget(30)).labels_left(history) == 10
    assert (LabelBudget(30) | LabelBudget(40)).labels_left(history) == 10
    assert (MaxRounds(2) | TargetMetric(0.5)).labels_left(history) is None


def test_label_budget_counts_from_zero_and_never_goes_negative():
    assert LabelBudget(30).labels_left([]) == 30
    assert LabelBudget(30).labels_left([record(0, 10), record(1, 45)]) == 0
    assert not LabelBudget(30).check([]).met and LabelBudget(30).check([]).reason == "0 of 30 labels used"
    assert LabelBudget(30).check([record(1, 31)]).met
    assert not LabelBudget(30).check([record(1, 29)]).met


def test_max_rounds_reads_the_last_round():
    assert not MaxRounds(3).check([]).met and MaxRounds(3).check([]).reason == "0 of 3 rounds done"
    assert MaxRounds(3).check([record(0, 10), record(4, 10)]).met
    assert not MaxRounds(3).check([record(4, 10), record(2, 10)]).met  # the last record counts
    assert MaxRounds(3).labels_left([record(0, 10)]) is None


def test_target_metric_at_exactly_the_target_and_named_metrics():
    assert TargetMetric(0.9).check([record(1, 10, {"accuracy": 0.9})]).met
    assert not TargetMetric(0.9).check([record(1, 10, {"accuracy": 0.8999})]).met
    # The held-out accuracy wins over the cross-validated one when both are measured.
    decision = TargetMetric(0.9).check([record(1, 10, {"accuracy": 0.5, "cv_accuracy": 0.95})])
    assert not decision.met and decision.reason == "accuracy 0.500 against target 0.900"
    assert TargetMetric(0.7, metric="f1").check([record(1, 10, {"f1": 0.75, "accuracy": 0.1})]).met
    # Cross-validation on the actively chosen labels overstates the model: never trusted (issue 19);
    # the lower end of the audit interval is.
    assert not TargetMetric(0.7, metric="f1").check([record(1, 10, {"cv_f1": 0.75})]).met
    assert TargetMetric(0.7, metric="f1").check([record(1, 10, {"cv_f1": 0.1, "audit_f1_low": 0.75})]).met
    decision = TargetMetric(0.9).check([])
    assert not decision.met and decision.reason == "accuracy not measured yet (target 0.900)"
    assert TargetMetric(0.9).check([record(0, 10, {"accuracy": 0.1}), record(1, 10, {"accuracy": 0.95})]).met


def test_stabilizing_predictions_fires_with_exactly_window_plus_one_models():
    base = np.random.default_rng(0).integers(0, 3, 300)
    crit = StabilizingPredictions(kappa=0.99, window=3)
    models = [record(i, 10 * i, preds=base) for i in range(4)]
    decision = crit.check(models)
    assert decision.met and decision.reason == "lowest kappa of the last 3 model pairs 1.0000 against 0.99"
    too_few = crit.check(models[:3])
    assert not too_few.met and too_few.reason == "3 models so far; agreement needs 4"
    # Rounds without a model do not count as models.
    assert not crit.check([record(0, 5), *models[:3]]).met
    assert crit.check([record(0, 5), *models]).met
    assert StabilizingPredictions(kappa=0.99, window=1).check(models[:2]).met


def test_stabilizing_predictions_looks_only_at_the_last_window_pairs():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 4, 400)
    other = rng.integers(0, 4, 400)
    crit = StabilizingPredictions(kappa=0.9, window=2)
    assert crit.check([record(i, i, preds=p) for i, p in enumerate([other, base, base, base])]).met
    assert not crit.check([record(i, i, preds=p) for i, p in enumerate([base, base, other, other])]).met
    assert not crit.check([record(i, i, preds=p) for i, p in enumerate([base, base, base, other])]).met


def test_stabilizing_predictions_compares_kappa_with_its_threshold():
    rng = np.random.default_rng(2)
    base = rng.integers(0, 2, 1000)
    changed = base.copy()
    changed[:50] = 1 - changed[:50]  # 5% disagree: kappa about 0.9
    history = [record(i, i, preds=p) for i, p in enumerate([base, changed])]
    crit = StabilizingPredictions(kappa=0.5, window=1)
    decision = crit.check(history)
    from sklearn.metrics import cohen_kappa_score

    kappa = cohen_kappa_score(base, changed)
    assert decision.met and f"{kappa:.4f}" in decision.reason
    assert StabilizingPredictions(kappa=round(kappa, 6) - 1e-6, window=1).check(history).met
    assert not StabilizingPredictions(kappa=round(kappa, 6) + 1e-6, window=1).check(history).met
    # A model that predicts one class everywhere, twice: the kappa is 0/0, the models agree.
    single = np.zeros(10, dtype=int)
    assert (
        StabilizingPredictions(kappa=0.99, window=1).check([record(0, 1, preds=single), record(1, 2, preds=single)]).met
    )


def test_low_uncertainty_at_exactly_the_threshold_and_its_reasons():
    assert LowUncertainty(0.05).check([record(0, 10, unc=0.05)]).met
    assert LowUncertainty(0.05).check([record(0, 10, unc=0.04)]).reason == "mean pool uncertainty 0.0400 against 0.05"
    assert LowUncertainty(0.05).check([]).reason == "no model yet, pool uncertainty unknown"
    assert not LowUncertainty().check([record(0, 10, unc=0.051)]).met
    assert LowUncertainty().threshold == 0.05 and StabilizingPredictions().kappa == 0.99
    assert StabilizingPredictions().window == 3


def test_decisions_are_booleans_and_every_met_reason_is_kept():
    assert TargetMetric(0.9).check([]).met is False
    assert (LabelBudget(10) | MaxRounds(3)).check([]).met is False
    assert LowUncertainty().check([]).met is False
    assert StabilizingPredictions().check([]).met is False
    decision = (LabelBudget(10) | MaxRounds(1) | TargetMetric(0.9)).check([record(1, 10, {"accuracy": 0.5})])
    assert decision.met is True and decision.reason == "10 of 10 labels used; 1 of 1 rounds done"


def test_stabilizing_predictions_is_met_at_exactly_its_kappa():
    same = np.arange(20) % 3
    assert StabilizingPredictions(kappa=1.0, window=1).check([record(0, 1, preds=same), record(1, 2, preds=same)]).met


def test_a_measured_metric_wins_over_the_audit_interval():
    crit = TargetMetric(0.9)
    # A test-set accuracy is the figure itself: the audit's lower end is only the fallback.
    assert crit.check([record(1, 10, {"accuracy": 0.95, "audit_accuracy_low": 0.5})]).met
    assert not crit.check([record(1, 10, {"accuracy": 0.85, "audit_accuracy_low": 0.95})]).met
