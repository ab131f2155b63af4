"""Multi-label informativeness scores: pure functions of independent per-class probabilities.

Convention: ``probs`` is ``(n, K)``, column ``k`` the probability that class ``k`` is on the image;
rows do not sum to 1. Every score is ``(n,)``, higher is more informative. ``labels`` (where a score
reads them) is the label matrix ``(m, K)`` in {0, 1} of the labeled items: only its label
cardinality (classes per image) is used.

- ``mean_binary_entropy``: ``mean_k H2(p_k)``, ``H2(p) = -p log2 p - (1-p) log2 (1-p)``, in [0, 1].
- ``max_binary_uncertainty``: ``1 - 2 min_k |p_k - 0.5|``, in [0, 1]. Both after Esuli & Sebastiani,
  "Active Learning Strategies for Multi-Label Text Classification" (ECIR 2009).
- ``max_margin_uncertainty``: Li & Guo, "Active Learning with Multi-Label SVM Classification"
  (IJCAI 2013). With decision values ``f_k = logit(p_k)`` and the predicted set ``P = {k: p_k >= 0.5}``
  (``N`` the rest), the separation margin ``sep = min_{k in P} f_k - max_{k in N} f_k`` is the gap
  between the least sure positive and the least sure negative; the score is ``1 / (1 + sep)`` in
  (0, 1] (the paper's ``1 / sep``, shifted so that a margin of 0 stays finite: same order). An empty
  side counts as the threshold ``f = 0``.
- ``cardinality_inconsistency``: Li & Guo's second measure, ``| |P| - mean_i |y_i| |``, how far the
  predicted number of classes is from the labeled items' average.
- ``max_margin_cardinality``: their combination ``u^b c^(1-b)`` of the two (``u = 1 / sep``), with
  ``b = 1/2``: equal weights, no constant fitted to a data set (the paper also picks ``b`` per round
  on held-out labels; not done here).
- ``mmc_scores``: Yang et al., "Effective Multi-Label Active Learning for Text Classification"
  (KDD 2009), maximum loss reduction with maximal confidence. A logistic regression trained on the
  labeled items predicts each item's number of classes ``m`` from its sorted, normalized
  probabilities; the predicted label vector ``y^`` puts the ``m`` most probable classes on. The score
  is the expected loss reduction ``sum_k (1 - y^_k f_k) / 2`` with ``f_k = 2 p_k - 1`` (the paper's
  SVM outputs, here from the logistic heads), i.e. ``sum_{k on} (1 - p_k) + sum_{k off} p_k``, the
  expected number of wrong classes in ``y^``; divided by ``K`` to lie in [0, 1].
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

# Probabilities are clipped this far from 0 and 1 before a logit, so a head that says exactly 0 or 1
# gives a large finite decision value (|logit| <= 27.6), not an infinite one.
LOGIT_CLIP = 1e-12


def check_binary_probs(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    """``probs`` as a float ``(n, K)`` array of independent probabilities in [0, 1], or ``ValueError``."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"{name}: expected shape (n, K), got {probs.ndim} dimension(s) {probs.shape}")
    if not np.issubdtype(probs.dtype, np.number) and probs.dtype != np.bool_:
        raise ValueError(f"{name}: expected numbers, got dtype {probs.dtype}")
    probs = probs if np.issubdtype(probs.dtype, np.floating) else probs.astype(np.float64)
    if probs.shape[1] < 1:
        raise ValueError(f"{name}: needs at least one class column")
    if not np.isfinite(probs).all():
        raise ValueError(f"{name}: contains NaN or inf")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(f"{name}: probabilities must lie in [0, 1], found [{probs.min():.4g}, {probs.max():.4g}]")
    return probs


def check_labels(labels: np.ndarray | None, n_classes: int, name: str = "labels") -> np.ndarray:
    """The labeled items' label matrix ``(m, K)`` with ``m >= 1``, or ``ValueError`` naming what is wrong."""
    if labels is None:
        raise ValueError(f"{name}: this score needs the label matrix of the labeled items")
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != n_classes:
        raise ValueError(f"{name}: expected shape (m, {n_classes}), got {labels.shape}")
    if labels.shape[0] == 0:
        raise ValueError(f"{name}: needs at least one labeled item")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name}: entries must be 0 or 1")
    return labels


def mean_binary_entropy(probs: np.ndarray) -> np.ndarray:
    """``mean_k H2(p_k)`` in bits, ``0 log 0 = 0``; ``probs`` ``(n, K)`` -> ``(n,)`` in [0, 1]."""
    p = check_binary_probs(probs)
    tiny = np.finfo(p.dtype).tiny
    h = -(p * np.log2(np.maximum(p, tiny)) + (1 - p) * np.log2(np.maximum(1 - p, tiny)))
    return h.mean(axis=1)


def max_binary_uncertainty(probs: np.ndarray) -> np.ndarray:
    """``1 - 2 min_k |p_k - 0.5|``; ``probs`` ``(n, K)`` -> ``(n,)`` in [0, 1], 1 when some ``p_k = 0.5``."""
    p = check_binary_probs(probs)
    return 1.0 - 2.0 * np.abs(p - 0.5).min(axis=1)


def separation_margin(probs: np.ndarray) -> np.ndarray:
    """Li & Guo's ``sep = min_{k in P} f_k - max_{k in N} f_k`` >= 0 in logits; ``(n, K)`` -> ``(n,)``."""
    p = np.clip(check_binary_probs(probs).astype(np.float64), LOGIT_CLIP, 1 - LOGIT_CLIP)
    f = np.log(p) - np.log1p(-p)
    on = p >= 0.5
    lowest_on = np.where(on, f, np.inf).min(axis=1)
    highest_off = np.where(on, -np.inf, f).max(axis=1)
    # An empty side stands at the threshold, f = 0.
    return np.where(np.isinf(lowest_on), 0.0, lowest_on) - np.where(np.isinf(highest_off), 0.0, highest_off)


def max_margin_uncertainty(probs: np.ndarray) -> np.ndarray:
    """``1 / (1 + sep)`` in (0, 1]: highest where the positive and negative classes are least separated."""
    return 1.0 / (1.0 + separation_margin(probs))


def cardinality_inconsistency(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``| |P| - mean_i |y_i| |``: predicted number of classes against the labeled items' mean, ``(n,)``."""
    p = check_binary_probs(probs)
    mean_cardinality = check_labels(labels, p.shape[1]).sum(axis=1).mean()
    return np.abs((p >= 0.5).sum(axis=1) - mean_cardinality)


def max_margin_cardinality(probs: np.ndarray, labels: np.ndarray, beta: float = 0.5) -> np.ndarray:
    """Li & Guo's ``u^b c^(1-b)``, ``u = 1 / sep`` (a zero margin is taken as ``LOGIT_CLIP``)."""
    u = 1.0 / np.maximum(separation_margin(probs), LOGIT_CLIP)
    return u**beta * cardinality_inconsistency(probs, labels) ** (1.0 - beta)


def predicted_cardinality(probs: np.ndarray, labeled_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """MMC's number of classes per item ``(n,)``: a logistic regression from sorted, normalized
    probabilities to the number of classes, trained on the labeled items (their own probabilities)."""

    def features(p: np.ndarray) -> np.ndarray:
        ordered = -np.sort(-p, axis=1)
        return ordered / np.maximum(ordered.sum(axis=1, keepdims=True), LOGIT_CLIP)

    counts = labels.sum(axis=1)
    if np.unique(counts).size == 1:  # one cardinality seen so far: nothing to learn, predict it
        return np.full(probs.shape[0], counts[0])
    model = LogisticRegression(max_iter=500).fit(features(labeled_probs), counts)
    return model.predict(features(probs))


def mmc_scores(probs: np.ndarray, labeled_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Yang et al.'s expected loss reduction ``sum_k (1 - y^_k f_k) / 2`` over ``K``, in [0, 1].

    probs: ``(n, K)`` of the items to score; labeled_probs ``(m, K)`` and labels ``(m, K)``: the
    labeled items' probabilities and label matrix, which train the cardinality predictor.
    """
    p = check_binary_probs(probs)
    labels = check_labels(labels, p.shape[1])
    labeled_probs = check_binary_probs(labeled_probs, "labeled_probs")
    if labeled_probs.shape != labels.shape:
        raise ValueError(f"labeled_probs: expected shape {labels.shape}, got {labeled_probs.shape}")
    m = predicted_cardinality(p, labeled_probs, labels)
    rank = np.argsort(np.argsort(-p, axis=1, kind="stable"), axis=1)  # 0 = most probable class
    on = rank < m[:, None]
    return np.where(on, 1.0 - p, p).sum(axis=1) / p.shape[1]
