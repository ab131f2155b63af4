"""The random audit sample: an honest estimate of the model's accuracy, from labels we get anyway.

Active learning labels the images the model finds hard, so accuracy measured on those labels
(cross-validated or not) is biased, by a lot. Instead, a share of every batch is drawn uniformly at
random from the unlabeled pool ("audit picks"). Each is scored by the model version that served it
*before* its label exists; when the label arrives it both measures that version and joins the
training set like any other, so no label is spent on testing alone.

The estimate is the agreement of those stored predictions with the labels over a recent window
of model versions, with a Wilson 95% interval (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it
over the normal interval for small ``n``). Below ``MIN_AUDIT_LABELS`` it says "too few" instead of
a number.

Without lag (:func:`accuracy_estimate`): each audit label is an unbiased test of the version that
served it, and older versions are worse than the newest, so pooling them lags. The estimate models
correctness of every audit label as a function of the serving version's label count ``n``: a
logistic regression ``logit P(correct) = a - b / sqrt(n)``, fitted on all audit labels and read
at the newest version's ``n``, with a delta-method 95% interval on the logit scale. ``1/sqrt(n)``
because learning curves follow inverse power laws with exponent near 1/2 (Cortes et al. 1994;
Figueroa et al. 2012); with ``log(n)`` instead, a curve that flattens out is over-extrapolated
(+1.8 points too high on a power-law curve in simulation), while ``1/sqrt(n)`` erred 0 to
-3.5 points over four curve shapes (tests/loop/test_audit.py, docs/honest.md).

When the fit is ill-posed (fewer than ``MIN_AUDIT_LABELS``, all right or all wrong, a single
version, no convergence, a falling trend) it falls back to the window: the audit labels served by the model
versions trained on at least ``WINDOW_SHARE`` of the newest version's labels, widened to the
latest ``MIN_AUDIT_LABELS`` when it holds fewer, with the Wilson interval. That one lags: it errs
low.

``explore`` picks are not counted as audit picks: they are drawn uniformly from the pool *minus
the strategy's picks*, i.e. without the images the model finds hardest, so they would err high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_AUDIT_LABELS = 10  # below this the Wilson interval is wider than +-0.2 and we show no number
WINDOW_SHARE = 0.5
Z95 = 1.959963984540054


@dataclass(frozen=True)
class AccuracyEstimate:
    """Accuracy on the unlabeled pool, from the audit sample.

    value, low, high: the agreement and its Wilson 95% interval; ``None`` when too few.
    n: the audit labels it rests on; versions: the model versions they were served by.
    reason: what the number is, or why there is none, in words.
    """

    value: float | None
    low: float | None
    high: float | None
    n: int
    versions: tuple[int, ...] = ()
    reason: str = ""

    @property
    def measured(self) -> bool:
        return self.value is not None

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n,
                "versions": list(self.versions), "reason": self.reason}  # fmt: skip


def audit_count(fraction: float, batch_size: int) -> int:
    """Audit picks in a batch: ``max(1, round(fraction * batch_size))``, none when ``fraction`` is 0."""
    if fraction <= 0 or batch_size <= 0:
        return 0
    return min(batch_size, max(1, round(fraction * batch_size)))


def add_audit_picks(
    batch_indices: np.ndarray, free_indices: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``audit_count(fraction, b)`` picks of a batch of ``b`` with uniform random ones.

    batch_indices: ``(b,)`` the strategy's picks, best first.
    free_indices: the unlabeled pool the audit picks are drawn from (uniformly, without
        replacement); it may include the batch's own picks: one drawn there stays where it is
        and is marked as an audit pick, so the draw stays uniform over the whole pool.
    Returns the batch (same size, distinct indices) and a boolean ``(b,)`` mask of the audit
    picks. The strategy's lowest-ranked picks make room; audit picks go to random positions, so
    that whichever part of a batch gets served before the next retrain holds some.
    """
    batch = np.asarray(batch_indices, dtype=np.intp)
    free = np.asarray(free_indices, dtype=np.intp)
    if not 0.0 <= fraction <= 1.0:  # also refuses NaN
        raise ValueError(f"audit_fraction: must be in [0, 1], got {fraction}")
    k = min(audit_count(fraction, batch.size), free.size)
    is_audit = np.zeros(batch.size, dtype=bool)
    if k == 0:
        return batch, is_audit
    drawn = rng.choice(free, size=k, replace=False)
    in_batch = np.isin(drawn, batch)
    kept = batch[~np.isin(batch, drawn)]
    kept = kept[: batch.size - k]  # drop the strategy's lowest-ranked picks
    slots = np.sort(rng.choice(batch.size, size=k, replace=False))
    out = np.empty(batch.size, dtype=np.intp)
    is_audit[slots] = True
    out[is_audit] = np.concatenate([drawn[in_batch], drawn[~in_batch]])
    out[~is_audit] = kept
    return out, is_audit


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; ``(0, 1)`` for ``n = 0``."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 or 1 one end is exactly 0 or 1; rounding must not put it on the wrong side of p.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def audit_estimate(
    predicted: np.ndarray,
    true: np.ndarray,
    *,
    min_n: int = MIN_AUDIT_LABELS,
    versions: tuple[int, ...] = (),
) -> AccuracyEstimate:
    """Agreement of stored predictions with the labels, with a Wilson 95% interval.

    predicted, true: ``(n,)`` class indices or names of the audit picks, each predicted by the
    model version that served it. Fewer than ``min_n``: no number, and a reason saying so.
    """
    predicted, true = np.asarray(predicted), np.asarray(true)
    if predicted.shape != true.shape:
        raise ValueError(f"predicted and true: shapes {predicted.shape} and {true.shape} differ")
    n = int(predicted.size)
    if n < min_n:
        return AccuracyEstimate(None, None, None, n, versions,
                                f"too few audit labels: {n} of the {min_n} needed")  # fmt: skip
    hits = int((predicted == true).sum())
    low, high = wilson_interval(hits, n)
    value = hits / n
    return AccuracyEstimate(value, low, high, n, versions,
                            f"{100 * value:.1f}% of {n} random audit images (95% interval "
                            f"{100 * low:.1f}-{100 * high:.1f}%)")  # fmt: skip


def window_mask(served_n_labels: np.ndarray, newest_n_labels: int, min_n: int = MIN_AUDIT_LABELS) -> np.ndarray:
    """Which audit labels the estimate uses; they are given oldest first.

    served_n_labels: ``(n,)`` the labels the serving model version was trained on, per audit label.
    Keeps those served by versions trained on at least ``WINDOW_SHARE * newest_n_labels`` labels,
    widened to the latest ``min_n`` when that keeps fewer.
    """
    served = np.asarray(served_n_labels)
    keep = served >= WINDOW_SHARE * newest_n_labels
    if keep.sum() < min_n:
        keep[max(served.size - min_n, 0) :] = True
    return keep


def _logistic_fit(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> tuple[np.ndarray, np.ndarray] | None:
    """Maximum-likelihood ``logit P(y) = c0 + c1 x`` by Newton's method: coefficients and their
    covariance (inverse Fisher information); ``None`` when it does not converge (separation)."""
    design = np.column_stack([np.ones_like(x), x])
    coef = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ coef, -30, 30)))
        info = design.T @ (design * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(info, design.T @ (y - p))
        except np.linalg.LinAlgError:
            return None
        coef = coef + step
        if not np.isfinite(coef).all() or np.abs(coef).max() > 1e3:
            return None
        if np.abs(step).max() < 1e-9:
            p = 1.0 / (1.0 + np.exp(-np.clip(design @ coef, -30, 30)))
            info = design.T @ (design * (p * (1 - p))[:, None])
            try:
                return coef, np.linalg.inv(info)
            except np.linalg.LinAlgError:
                return None
    return None


def _expit(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(t, -30.0), 30.0)))


def _learning_curve_x(n_labels: np.ndarray | float) -> np.ndarray:
    """The covariate of the trend: ``-1/sqrt(n)`` (rises with ``n``, flattens like a learning curve)."""
    return -1.0 / np.sqrt(np.maximum(np.asarray(n_labels, dtype=float), 1.0))


def accuracy_estimate(
    served_n_labels: np.ndarray,
    predicted: np.ndarray,
    true: np.ndarray,
    newest_n_labels: int,
    *,
    min_n: int = MIN_AUDIT_LABELS,
    versions: tuple[int, ...] = (),
) -> AccuracyEstimate:
    """The accuracy of the model trained on ``newest_n_labels``, from all audit labels.

    served_n_labels: ``(n,)`` labels the serving version was trained on, per audit label, oldest
    first; predicted, true: ``(n,)`` its stored prediction and the label.
    The trend fit of the module docstring, read at ``newest_n_labels``, with a delta-method 95%
    interval; the windowed Wilson estimate (:func:`window_mask`, :func:`audit_estimate`) when the
    fit is ill-posed. Fewer than ``min_n``: no number, and a reason saying so.
    """
    served = np.asarray(served_n_labels)
    predicted, true = np.asarray(predicted), np.asarray(true)
    if not served.shape == predicted.shape == true.shape:
        raise ValueError(
            f"served_n_labels, predicted, true: shapes {served.shape}, {predicted.shape}, {true.shape} differ"
        )
    correct = (predicted == true).astype(float)
    x = _learning_curve_x(served)
    fit = None
    if correct.size >= min_n and 0 < correct.sum() < correct.size and np.unique(x).size >= 2:
        fit = _logistic_fit(x, correct)
    # A falling fit contradicts a learning curve (more labels, no worse model in expectation): it is
    # noise in a small sample, and read at the newest version it would understate by far.
    if fit is None or fit[0][1] < 0:
        keep = window_mask(served, newest_n_labels, min_n)
        return audit_estimate(predicted[keep], true[keep], min_n=min_n, versions=versions)
    coef, cov = fit
    at = np.array([1.0, float(_learning_curve_x(newest_n_labels))])
    logit, se = float(at @ coef), math.sqrt(max(float(at @ cov @ at), 0.0))
    value, low, high = (
        1.0 / (1.0 + math.exp(-min(max(t, -30.0), 30.0))) for t in (logit, logit - Z95 * se, logit + Z95 * se)
    )
    n = int(correct.size)
    return AccuracyEstimate(value, low, high, n, versions,
                            f"{100 * value:.1f}% at {newest_n_labels} labels, from the trend of {n} random "
                            f"audit images (95% interval {100 * low:.1f}-{100 * high:.1f}%)")  # fmt: skip
