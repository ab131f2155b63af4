"""Stopping criteria: small objects that read the loop's history and say whether to stop, and why.

Combine them with ``|`` (any is met) and ``&`` (all are met).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import cohen_kappa_score

from labelwise.loop.history import RoundRecord


@dataclass(frozen=True)
class StopDecision:
    met: bool
    reason: str


class StoppingCriterion:
    """Base class: ``check(history)`` returns a :class:`StopDecision`."""

    def check(self, history: list[RoundRecord]) -> StopDecision:
        raise NotImplementedError

    def labels_left(self, history: list[RoundRecord]) -> int | None:
        """How many more labels this criterion allows, or ``None`` if it sets no label limit."""
        return None

    def __or__(self, other: StoppingCriterion) -> AnyOf:
        return AnyOf(self, other)

    def __and__(self, other: StoppingCriterion) -> AllOf:
        return AllOf(self, other)


class AnyOf(StoppingCriterion):
    """Met as soon as one of its criteria is met."""

    def __init__(self, *criteria: StoppingCriterion) -> None:
        self.criteria = criteria

    def check(self, history: list[RoundRecord]) -> StopDecision:
        decisions = [c.check(history) for c in self.criteria]
        met = [d for d in decisions if d.met]
        if met:
            return StopDecision(True, "; ".join(d.reason for d in met))
        return StopDecision(False, "; ".join(d.reason for d in decisions))

    def labels_left(self, history: list[RoundRecord]) -> int | None:
        limits = [x for x in (c.labels_left(history) for c in self.criteria) if x is not None]
        return min(limits) if limits else None


class AllOf(StoppingCriterion):
    """Met when all of its criteria are met."""

    def __init__(self, *criteria: StoppingCriterion) -> None:
        self.criteria = criteria

    def check(self, history: list[RoundRecord]) -> StopDecision:
        decisions = [c.check(history) for c in self.criteria]
        return StopDecision(all(d.met for d in decisions), "; ".join(d.reason for d in decisions))

    def labels_left(self, history: list[RoundRecord]) -> int | None:
        limits = [c.labels_left(history) for c in self.criteria]
        return None if None in limits else max(limits)


def _last(history: list[RoundRecord]) -> RoundRecord | None:
    return history[-1] if history else None


@dataclass(frozen=True)
class LabelBudget(StoppingCriterion):
    """Stop once ``max_labels`` items are labeled."""

    max_labels: int

    def check(self, history: list[RoundRecord]) -> StopDecision:
        n = _last(history).n_labeled if history else 0
        return StopDecision(n >= self.max_labels, f"{n} of {self.max_labels} labels used")

    def labels_left(self, history: list[RoundRecord]) -> int | None:
        return max(self.max_labels - (history[-1].n_labeled if history else 0), 0)


@dataclass(frozen=True)
class MaxRounds(StoppingCriterion):
    """Stop after ``max_rounds`` query rounds (round 0 is the initial model)."""

    max_rounds: int

    def check(self, history: list[RoundRecord]) -> StopDecision:
        done = _last(history).round if history else 0
        return StopDecision(done >= self.max_rounds, f"{done} of {self.max_rounds} rounds done")


@dataclass(frozen=True)
class TargetMetric(StoppingCriterion):
    """Stop once a metric reaches ``target``.

    ``accuracy`` is measured on the held-out set when there is one (the simulator). Otherwise
    only the random audit sample is trusted: the criterion is met when the *lower end* of the audit
    estimate's 95% interval (``audit_accuracy_low``) reaches the target. Accuracy cross-validated
    on the labels is never used: active learning chose those labels, so it overstates the model
    (by 16 to 58 points on the demo, issue 19).
    """

    target: float
    metric: str = "accuracy"

    def check(self, history: list[RoundRecord]) -> StopDecision:
        last = _last(history)
        metrics = last.metrics if last else {}
        name = self.metric
        if name not in metrics and f"audit_{name}_low" in metrics:
            name = f"audit_{name}_low"
        value = metrics.get(name)
        if value is None or np.isnan(value):
            why = metrics.get(f"audit_{self.metric}_reason", f"{self.metric} not measured yet")
            return StopDecision(False, f"{why} (target {self.target:.3f})")
        shown = "lower end of the audit estimate's 95% interval" if name.startswith("audit_") else name
        return StopDecision(value >= self.target, f"{shown} {value:.3f} against target {self.target:.3f}")


@dataclass(frozen=True)
class StabilizingPredictions(StoppingCriterion):
    """Bloodgood & Vijay-Shanker (2009): stop when consecutive models agree on a fixed stop set.

    Met when Cohen's kappa between each pair of consecutive models' predictions on the stop set
    (unlabeled items, fixed once) is at least ``kappa`` for ``window`` pairs in a row.
    """

    kappa: float = 0.99
    window: int = 3

    def check(self, history: list[RoundRecord]) -> StopDecision:
        preds = [r.stop_predictions for r in history if r.stop_predictions is not None]
        if len(preds) < self.window + 1:
            return StopDecision(False, f"{len(preds)} models so far; agreement needs {self.window + 1}")
        kappas = [_agreement(preds[i - 1], preds[i]) for i in range(len(preds) - self.window, len(preds))]
        worst = min(kappas)
        return StopDecision(
            worst >= self.kappa,
            f"lowest kappa of the last {self.window} model pairs {worst:.4f} against {self.kappa}",
        )


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    if np.array_equal(a, b):
        return 1.0  # kappa is undefined (0/0) when both models predict a single class
    return float(cohen_kappa_score(a, b))


@dataclass(frozen=True)
class LowUncertainty(StoppingCriterion):
    """Stop when the mean least-confidence score of the unlabeled pool falls to ``threshold``."""

    threshold: float = 0.05

    def check(self, history: list[RoundRecord]) -> StopDecision:
        last = _last(history)
        value = last.pool_uncertainty if last else None
        if value is None:
            return StopDecision(False, "no model yet, pool uncertainty unknown")
        return StopDecision(value <= self.threshold, f"mean pool uncertainty {value:.4f} against {self.threshold}")
