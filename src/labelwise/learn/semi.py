"""Semi-supervised heads: they learn from the unlabeled pool as well as from the labels.

Both follow scikit-learn's semi-supervised convention: ``fit(X, y)`` takes the whole pool ``X``
``(N, d)`` with ``y`` ``(N,)`` holding ``UNLABELED`` (-1) for the images without a label. Like
:class:`~labelwise.learn.heads.Head`, their probabilities have one column per project class, in
order, and a class without a label gets 0.

References
----------
Zhou, Bousquet, Lal, Weston, Schölkopf (2004). Learning with local and global consistency. NeurIPS.
Yarowsky (1995); Lee (2013). Pseudo-label: the simple and efficient semi-supervised learning method.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from labelwise.learn.graph import N_NEIGHBORS, fingerprint, neighbors, normalized_graph
from labelwise.learn.heads import Head, check_labels

UNLABELED = -1


def labeled_mask(y: np.ndarray) -> np.ndarray:
    """Which rows of ``y`` hold a label: not ``UNLABELED`` (``"-1"`` in an array of strings)."""
    y = np.asarray(y)
    return y != (str(UNLABELED) if y.dtype.kind in "US" else UNLABELED)


def split_labels(classes, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labeled rows, column index of each labeled row)``; refuses labels outside ``classes``."""
    classes = np.asarray(classes)
    y = np.asarray(y)
    labeled = np.flatnonzero(labeled_mask(y))
    values = y[labeled]
    check_labels(classes, values)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    return labeled, np.array([lookup[c] for c in values.tolist()], dtype=np.intp)


def spread(S, Y: np.ndarray, alpha: float, max_iter: int, tol: float, x0: np.ndarray | None = None) -> np.ndarray:
    """The fixed point of ``F <- alpha S F + (1 - alpha) Y``: ``F = (1 - alpha) (I - alpha S)^-1 Y``, ``(N, k)``.

    Solved by conjugate gradients, one per column, all columns at once (``I - alpha S`` is
    symmetric positive definite: ``S``'s eigenvalues lie in [-1, 1]), until each column's residual
    falls below ``tol`` times its right-hand side, or after ``max_iter`` sparse products. This reaches
    the fixed point in tens of products where the plain iteration needs thousands at ``alpha = 0.99``.
    Float32 throughout (the products read the graph and ``(N, k)`` blocks: half the memory traffic
    of float64; the tolerance is far above float32's rounding). ``x0``: a starting point ``(N, k)``
    (e.g. the previous retrain's solution), else zero.
    """
    b = ((1.0 - alpha) * Y).astype(np.float32)
    F = np.zeros_like(b)
    live = np.flatnonzero(np.abs(b).sum(axis=0) > 0)  # a class without labels stays 0
    if live.size == 0:
        return F
    b = np.ascontiguousarray(b[:, live])
    alpha = np.float32(alpha)
    if x0 is None:
        x = np.zeros_like(b)
        r = b.copy()
    else:
        x = np.ascontiguousarray(x0[:, live], dtype=np.float32)
        r = b - (x - alpha * (S @ x))
    p = r.copy()
    rs = (r * r).sum(axis=0)
    bound = (np.float32(tol) * np.linalg.norm(b, axis=0)) ** 2
    tiny = np.finfo(np.float32).tiny
    for _ in range(max_iter):
        if np.all(rs <= bound):
            break
        Ap = p - alpha * (S @ p)
        step = rs / np.maximum((p * Ap).sum(axis=0), tiny)
        x += step * p
        r -= step * Ap
        rs_new = (r * r).sum(axis=0)
        p *= rs_new / np.maximum(rs, tiny)
        p += r
        rs = rs_new
    F[:, live] = x
    return F


class LabelSpreadingHead(ClassifierMixin, BaseEstimator):
    """Label spreading over the pool's kNN graph (Zhou et al. 2004).

    The fixed point of ``F <- alpha S F + (1 - alpha) Y`` (:func:`spread`), with ``S`` the
    normalised kNN graph of the pool (:func:`~labelwise.learn.graph.normalized_graph`, built once
    per pool) and ``Y`` the one-hot labels. Each row of ``F``, normalised, is that image's probabilities. An image the
    labels never reach (a graph component without a label) gets the label frequencies.

    A new image (not in the pool) gets the similarity-weighted mean of its ``n_neighbors`` nearest
    pool images' probabilities.

    Parameters
    ----------
    classes: every class of the project, in column order.
    alpha: how far labels spread (0: not at all; Zhou et al. use 0.99).
    n_neighbors: k of the kNN graph.
    max_iter, tol: the solver stops after ``max_iter`` sparse products or at a relative residual ``tol``.
    """

    semi_supervised = True

    def __init__(self, classes=(0, 1), alpha: float = 0.99, n_neighbors: int = N_NEIGHBORS, max_iter: int = 200,
                 tol: float = 1e-4) -> None:  # fmt: skip
        self.classes = classes
        self.alpha = alpha
        self.n_neighbors = n_neighbors
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: np.ndarray, y: np.ndarray) -> LabelSpreadingHead:
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"alpha: must be in [0, 1), got {self.alpha}")
        if X.shape[0] != np.asarray(y).shape[0]:
            raise ValueError(f"X and y: {X.shape[0]} rows against {np.asarray(y).shape[0]} labels")
        self.classes_ = np.asarray(self.classes)
        labeled, columns = split_labels(self.classes_, y)
        n, k = X.shape[0], len(self.classes_)
        Y = np.zeros((n, k), dtype=np.float32)
        Y[labeled, columns] = 1.0
        key = fingerprint(X)
        F = spread(normalized_graph(X, self.n_neighbors, key), Y, self.alpha, self.max_iter, self.tol)
        prior = np.bincount(columns, minlength=k).astype(np.float64)
        prior /= prior.sum()
        totals = F.sum(axis=1, keepdims=True)
        self.pool_proba_ = np.where(totals > 0, F / np.where(totals > 0, totals, 1.0), prior)
        self.prior_ = prior
        self.pool_ = X
        self.pool_key_ = key
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, k)``: the pool's own when ``X`` is the pool it was fitted on."""
        check_is_fitted(self, "pool_proba_")
        if X is self.pool_ or (X.shape == self.pool_.shape and fingerprint(X) == self.pool_key_):
            return self.pool_proba_.copy()
        idx, sim = neighbors(self.pool_, X, self.n_neighbors)
        weights = np.clip(sim, 1e-6, None)
        proba = np.einsum("nk,nkc->nc", weights, self.pool_proba_[idx]) / weights.sum(axis=1, keepdims=True)
        return proba

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class SelfTrainingHead(ClassifierMixin, BaseEstimator):
    """Self-training of the logistic head on its own confident pool predictions (pseudo-labels).

    Round t (t = 1 .. len(growth)) refits the head on the labels plus, for each labeled class ``c``
    with ``n_c`` labels, the ``growth[t-1] * n_c`` unlabeled images the previous model predicts as
    ``c`` most confidently. Pseudo-labels follow the labels' class balance, so a class the head
    already favours cannot swallow the pool, and they are re-chosen each round, so an early mistake
    is not kept. The final head is a :class:`~labelwise.learn.heads.Head`: linear, inductive, and
    committees score it in one pass (``linear_``).

    Parameters
    ----------
    classes: every class of the project, in column order.
    growth: pseudo-labels per label of each class, one entry per self-training round.
    estimator: the head's scikit-learn classifier (default: the logistic head's).
    """

    semi_supervised = True

    def __init__(self, classes=(0, 1), growth: tuple[float, ...] = (1.0, 2.0, 4.0), estimator=None) -> None:
        self.classes = classes
        self.growth = growth
        self.estimator = estimator

    def fit(self, X: np.ndarray, y: np.ndarray) -> SelfTrainingHead:
        if X.shape[0] != np.asarray(y).shape[0]:
            raise ValueError(f"X and y: {X.shape[0]} rows against {np.asarray(y).shape[0]} labels")
        self.classes_ = np.asarray(self.classes)
        labeled, columns = split_labels(self.classes_, y)
        base = Head(classes=self.classes, estimator=self.estimator)
        head = clone(base).fit(X[labeled], self.classes_[columns])
        unlabeled = np.setdiff1d(np.arange(X.shape[0]), labeled)
        counts = np.bincount(columns, minlength=len(self.classes_))
        self.n_pseudo_ = 0
        for factor in self.growth:
            if unlabeled.size == 0:
                break
            proba = head.predict_proba(X[unlabeled])
            predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
            picked_rows, picked_columns = [], []
            for column in np.flatnonzero(counts):
                candidates = np.flatnonzero(predicted == column)
                take = min(candidates.size, int(np.ceil(factor * counts[column])))
                # Most confident first; ties broken by pool position, so the result is deterministic.
                order = np.lexsort((candidates, -confidence[candidates]))[:take]
                picked_rows.append(unlabeled[candidates[order]])
                picked_columns.append(np.full(take, column))
            rows = np.concatenate([labeled, *picked_rows])
            targets = np.concatenate([columns, *picked_columns])
            head = clone(base).fit(X[rows], self.classes_[targets])
            self.n_pseudo_ = int(rows.size - labeled.size)
        self.head_ = head
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def linear_(self):
        check_is_fitted(self, "head_")
        return self.head_.linear_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.head_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
