"""Likely-mislabeled images: confident learning on out-of-fold probabilities.

A label is suspect when a model that never saw it (trained on the other folds) gives the labeled
class a low probability. The model is a logistic-regression head on the frozen features, so the
whole check costs a few cross-validated fits: seconds. Its regularization is chosen per project
by the out-of-fold log-loss (:func:`select_out_of_fold_probabilities`), not fixed for one data set.

References
----------
Northcutt, Jiang, Chuang. "Confident Learning: Estimating Uncertainty in Dataset Labels." JAIR 70 (2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from labelwise.learn.heads import Head, default_estimator

# Inverse regularization strengths tried, strongest last: a project with few labels per feature
# dimension overfits the default C=1, which flattens the out-of-fold probabilities of wrong labels.
C_GRID = (1.0, 0.1, 0.01)


def out_of_fold_probabilities(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    n_folds: int = 5,
    estimator=None,
    random_state: int = 0,
) -> np.ndarray:
    """Probabilities ``(n, n_classes)`` of each labeled row from a head fitted without it.

    ``X`` ``(n, d)`` features, ``y`` ``(n,)`` class positions in ``[0, n_classes)``. Stratified folds;
    fewer than ``n_folds`` when the rarest class has fewer labels (at least 2 folds). A fold whose
    training part holds a single class predicts that class with probability 1.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y: {X.shape[0]} rows against {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y: labels must be class positions in [0, {n_classes}), got {y.min()}..{y.max()}")
    counts = np.bincount(y, minlength=n_classes)
    folds = int(min(n_folds, counts[counts > 0].min(initial=y.size)))
    if folds < 2:
        raise ValueError(f"y: every labeled class needs at least 2 labels for cross-validation, got {counts.tolist()}")
    out = np.zeros((y.size, n_classes), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    # One BLAS thread: the fits are small (thousands x 256), and a threaded BLAS on a busy machine
    # spins instead of working: 2,000 labels x 3 C took 98 s wall (22.6 s CPU) against 3.2 s (0.6 s
    # CPU) single-threaded, on 2 cores at a load average of 25 (docs/trust.md).
    with threadpool_limits(1):
        for train, held in splitter.split(X, y):
            if np.unique(y[train]).size < 2:
                out[held, y[train][0]] = 1.0
                continue
            head = Head(classes=np.arange(n_classes), estimator=estimator).fit(X[train], y[train])
            out[held] = head.predict_proba(X[held])
    return out


def select_out_of_fold_probabilities(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    Cs: tuple[float, ...] = C_GRID,
    n_folds: int = 5,
    random_state: int = 0,
) -> tuple[np.ndarray, float]:
    """Out-of-fold probabilities of the default head at each ``C`` of ``Cs``; returns those with the
    lowest mean log-loss of the given labels, and that ``C``.

    The same folds serve every ``C``. Choosing on the labels being checked is slightly optimistic,
    but the choice is among a handful of values, and the labels are mostly right.
    """
    best: tuple[float, np.ndarray, float] | None = None
    rows = np.arange(len(y))
    for C in Cs:
        probs = out_of_fold_probabilities(X, y, n_classes, n_folds=n_folds, estimator=default_estimator(C=C),
                                          random_state=random_state)  # fmt: skip
        loss = float(-np.log(np.clip(probs[rows, y], 1e-12, None)).mean())
        if best is None or loss < best[0]:
            best = (loss, probs, C)
    if best is None:
        raise ValueError("Cs: give at least one value")
    return best[1], best[2]


@dataclass(frozen=True)
class LabelIssues:
    """Every labeled row ranked from most to least likely mislabeled.

    order: ``(n,)`` row indices, most suspect first: by ascending probability of the given label
        (self-confidence), ties by row.
    flagged: ``(n,)`` bool, the row is off the diagonal of the confident joint: confident learning
        counts it as mislabeled. Their number estimates how many labels are wrong.
    given_p: ``(n,)`` out-of-fold probability of the given label.
    suggested: ``(n,)`` the class the row is confidently counted as (argmax of the probabilities
        over the classes above their threshold; when none is, the likeliest class that has labels).
    thresholds: ``(k,)`` per-class thresholds (mean probability of the class over its own labels).
    """

    order: np.ndarray
    flagged: np.ndarray
    given_p: np.ndarray
    suggested: np.ndarray
    thresholds: np.ndarray


def rank_label_issues(probs: np.ndarray, labels: np.ndarray) -> LabelIssues:
    r"""Confident learning's label issues, ranked by self-confidence.

    With out-of-fold probabilities :math:`\hat p(j \mid x)` and given labels :math:`\tilde y`, the
    threshold of class :math:`j` is :math:`t_j = \operatorname{mean}_{x: \tilde y = j} \hat p(j \mid x)`.
    A row is counted in the confident joint :math:`C[\tilde y][j^*]` with
    :math:`j^* = \arg\max_{j: \hat p(j\mid x) \ge t_j} \hat p(j \mid x)`; it is flagged when
    :math:`j^* \ne \tilde y` (Northcutt et al. 2021, "confident joint" filter). Rows are ranked by
    ascending :math:`\hat p(\tilde y \mid x)` (the "self-confidence" ranking). Putting the flagged
    rows first ranked worse on Fashion-MNIST with 5% injected errors (precision of the top 100:
    0.66-0.71 against 0.71-0.82, benchmarks/bench_mislabeled.py), so the flag is reported, not ranked on.

    probs: ``(n, k)`` out-of-fold probabilities; labels: ``(n,)`` class positions.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs {probs.shape} and labels {labels.shape}: expected (n, k) and (n,)")
    if np.isnan(probs).any():
        raise ValueError("probs: contains NaN")
    n, k = probs.shape
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return LabelIssues(empty, np.empty(0, bool), np.empty(0), empty, np.full(k, np.nan))
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros(k)
    np.add.at(sums, labels, probs[np.arange(n), labels])
    # Sums over the rows of each class; a class nobody labeled can never be reached confidently.
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    above = np.where(probs >= thresholds, probs, -np.inf)
    confident = np.isfinite(above).any(axis=1)
    # No class confidently: the likeliest class that has labels (a class nobody labeled is never suggested).
    likeliest = np.where(counts > 0, probs, -np.inf).argmax(axis=1)
    suggested = np.where(confident, above.argmax(axis=1), likeliest)
    flagged = confident & (suggested != labels)
    given_p = probs[np.arange(n), labels]
    order = np.argsort(given_p, kind="stable")
    return LabelIssues(order, flagged, given_p, suggested, thresholds)
