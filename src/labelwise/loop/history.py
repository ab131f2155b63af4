"""What one round of the loop leaves behind."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RoundRecord:
    """One trained model: after round 0's initial labels, then after each queried batch.

    stop_predictions: the model's predicted classes on the loop's fixed stop set (for the
        stabilizing-predictions criterion); ``None`` while there is no model.
    pool_uncertainty: mean least confidence over the unlabeled pool; ``None`` without a model.
    """

    round: int
    n_labeled: int
    strategy: str
    metrics: dict[str, float] = field(default_factory=dict)
    selected: np.ndarray | None = None
    stop_predictions: np.ndarray | None = None
    pool_uncertainty: float | None = None
