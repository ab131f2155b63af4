"""The loop: rounds of active learning, stopping criteria and the simulator."""

from labelwise.loop.active_loop import ActiveLoop
from labelwise.loop.history import RoundRecord
from labelwise.loop.stopping import (
    AllOf,
    AnyOf,
    LabelBudget,
    LowUncertainty,
    MaxRounds,
    StabilizingPredictions,
    StopDecision,
    StoppingCriterion,
    TargetMetric,
)

__all__ = [
    "ActiveLoop",
    "AllOf",
    "AnyOf",
    "LabelBudget",
    "LowUncertainty",
    "MaxRounds",
    "RoundRecord",
    "StabilizingPredictions",
    "StopDecision",
    "StoppingCriterion",
    "TargetMetric",
]
