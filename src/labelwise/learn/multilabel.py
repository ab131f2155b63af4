"""A multi-label head: one binary logistic head per class (one-vs-rest) on frozen features.

Labels are a matrix ``Y`` ``(n, K)`` in {0, 1}, one column per project class in a fixed order; a row
of zeros is an image that carries none of the classes (an explicit "none", not a missing label).
Probabilities are ``(n, K)`` and independent: rows need not sum to 1.

A class seen only negative (or only positive) so far cannot train a binary head. It gets a
constant probability, Laplace's rule of succession ``(positives + 1) / (n + 2)``, instead of a crash
or a hard 0/1: with 0 positives in 20 labels that is 1/22, small but not a certainty the model has
not earned. scikit-learn's ``OneVsRestClassifier`` predicts exactly 0 or 1 in that case, which is
why this is a loop over binary heads rather than that wrapper.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted


def default_binary_estimator(C: float = 1.0, max_iter: int = 200) -> LogisticRegression:
    """Binary logistic regression (lbfgs), the same settings as the single-label default head."""
    return LogisticRegression(C=C, max_iter=max_iter, tol=1e-3)


def check_label_matrix(Y: np.ndarray, n_classes: int, name: str = "Y") -> np.ndarray:
    """``Y`` as an int8 ``(n, K)`` matrix of 0 and 1, or ``ValueError`` naming what is wrong."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"{name}: expected a label matrix of shape (n, {n_classes}), got shape {Y.shape}")
    if Y.shape[1] != n_classes:
        raise ValueError(f"{name}: expected {n_classes} class columns, got {Y.shape[1]}")
    if not (np.issubdtype(Y.dtype, np.number) or Y.dtype == np.bool_):
        raise ValueError(f"{name}: expected 0/1 numbers, got dtype {Y.dtype}")
    bad = ~np.isin(Y, (0, 1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{name}: entries must be 0 or 1; row {row}, column {col} holds {Y[row, col].item()!r}")
    return Y.astype(np.int8)


class MultiLabelHead(BaseEstimator):
    """One-vs-rest binary heads over a fixed class list.

    Parameters
    ----------
    classes: every class of the project, in column order.
    estimator: an unfitted binary scikit-learn classifier with ``predict_proba``, cloned per class;
        ``None`` means :func:`default_binary_estimator`.
    """

    def __init__(self, classes=(0, 1), estimator=None) -> None:
        self.classes = classes
        self.estimator = estimator

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MultiLabelHead:
        """Fit on rows ``X`` ``(n, d)`` with labels ``Y`` ``(n, K)`` in {0, 1} (``K = len(classes)``)."""
        self.classes_ = np.asarray(self.classes)
        X = np.asarray(X)
        Y = check_label_matrix(Y, len(self.classes_))
        if X.ndim != 2 or X.shape[0] != Y.shape[0]:
            raise ValueError(f"X and Y: {X.shape[0] if X.ndim else 0} rows against {Y.shape[0]} label rows")
        if X.shape[0] == 0:
            raise ValueError("X: training needs at least one labeled row")
        positives = Y.sum(axis=0)
        n = Y.shape[0]
        # Per class: a fitted binary estimator, or None and a constant (Laplace) probability.
        self.estimators_: list = []
        self.constant_ = np.full(len(self.classes_), np.nan)
        for k in range(len(self.classes_)):
            if 0 < positives[k] < n:
                est = clone(self.estimator) if self.estimator is not None else default_binary_estimator()
                self.estimators_.append(est.fit(X, Y[:, k]))
            else:
                self.estimators_.append(None)
                self.constant_[k] = (positives[k] + 1.0) / (n + 2.0)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Independent probabilities ``(n, K)``: column ``k`` is P(class ``k`` is on the image)."""
        check_is_fitted(self, "estimators_")
        X = np.asarray(X)
        out = np.empty((X.shape[0], len(self.classes_)), dtype=np.float64)
        for k, est in enumerate(self.estimators_):
            if est is None:
                out[:, k] = self.constant_[k]
            else:
                # classes_ of a binary estimator are sorted: column 1 is the positive label.
                out[:, k] = est.predict_proba(X)[:, list(est.classes_).index(1)]
        return out

    def predict(self, X: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """The label matrix ``(n, K)`` in {0, 1}: a class is on where its probability reaches ``threshold``."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold: must be strictly between 0 and 1, got {threshold}")
        return (self.predict_proba(X) >= threshold).astype(np.int8)
