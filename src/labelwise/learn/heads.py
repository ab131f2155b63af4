"""Heads: light classifiers trained on embeddings, following scikit-learn's estimator API.

The class list belongs to the project, not to the labels seen so far: a class without a label yet
gets probability 0 in its own column, so columns never shift as labels arrive.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from labelwise.arrays import row_sums
from labelwise.errors import NotEnoughClassesError


def default_estimator(C: float = 1.0, max_iter: int = 200) -> LogisticRegression:
    """Multinomial logistic regression (lbfgs): fast, calibrated enough for uncertainty sampling."""
    return LogisticRegression(C=C, max_iter=max_iter, tol=1e-3)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in place on ``logits`` ``(n, k)``; ``-inf`` columns get probability 0.

    The usual shift by the row maximum costs a slow pass over a short axis; it is skipped when
    every finite logit is small enough that ``exp`` cannot overflow, which is the common case.
    """
    # exp(+-80) neither overflows float32 (even summed over k classes) nor underflows to 0, so
    # rows with every finite logit in [-80, 80] need no shift; -inf (unseen classes) gives 0.
    safe = logits.size > 0 and logits.max() <= 80.0 and np.min(logits, where=logits > -np.inf, initial=np.inf) >= -80.0
    if not safe:
        logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= row_sums(logits)[:, None]
    return logits


def check_labels(classes: np.ndarray, y: np.ndarray) -> None:
    """Refuse labels outside ``classes`` and fewer than two distinct labels: a head needs two classes."""
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(f"y: labels {unknown.tolist()} are not among the classes {classes.tolist()}")
    present = np.unique(y)
    if present.size < 2:
        raise NotEnoughClassesError(
            f"y: training needs labels of at least 2 classes, got {present.size} ({present.tolist()})"
        )


class Head(ClassifierMixin, BaseEstimator):
    """Any scikit-learn classifier, with a fixed class list.

    Parameters
    ----------
    classes: every class of the project, in column order (class indices or names).
    estimator: an unfitted scikit-learn classifier with ``predict_proba``; cloned at each ``fit``.
        ``None`` means :func:`default_estimator`.
    """

    def __init__(self, classes=(0, 1), estimator=None) -> None:
        self.classes = classes
        self.estimator = estimator

    def fit(self, X: np.ndarray, y: np.ndarray) -> Head:
        """Fit on labeled rows ``X`` ``(n, d)`` with labels ``y`` ``(n,)`` taken from ``classes``."""
        self.classes_ = np.asarray(self.classes)
        y = np.asarray(y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y: {X.shape[0]} rows against {y.shape[0]} labels")
        check_labels(self.classes_, y)
        estimator = clone(self.estimator) if self.estimator is not None else default_estimator()
        estimator.fit(X, y)
        self.estimator_ = estimator
        lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
        self.columns_ = np.array([lookup[c] for c in estimator.classes_.tolist()], dtype=np.intp)
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def linear_(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(W, b)`` with logits ``X @ W + b`` over all classes, when the estimator is linear-softmax.

        Committees stack these to score a pool in one pass over memory; ``None`` otherwise.
        """
        check_is_fitted(self, "estimator_")
        est = self.estimator_
        if not isinstance(est, LogisticRegression):
            return None
        k, d = len(self.classes_), est.coef_.shape[1]
        W = np.zeros((d, k), dtype=np.float64)
        b = np.full(k, -np.inf)
        if est.coef_.shape[0] == 1:  # binary: sklearn keeps only the logit of classes_[1]
            W[:, self.columns_[1]] = est.coef_[0]
            b[self.columns_] = (0.0, est.intercept_[0])
        else:
            W[:, self.columns_] = est.coef_.T
            b[self.columns_] = est.intercept_
        return W, b

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, k)`` over all project classes; unseen classes get 0."""
        check_is_fitted(self, "estimator_")
        linear = self.linear_
        if linear is not None:
            W, b = linear
            return softmax_rows(X @ W.astype(X.dtype, copy=False) + b.astype(X.dtype, copy=False))
        proba = self.estimator_.predict_proba(X)
        out = np.zeros((X.shape[0], len(self.classes_)), dtype=proba.dtype)
        out[:, self.columns_] = proba
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
