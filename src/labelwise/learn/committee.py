"""Committees: several heads whose disagreement feeds ``variance`` and ``bald``."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from labelwise.learn.heads import Head, softmax_rows


def stratified_bootstrap(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices of a bootstrap resample drawn within each class.

    Keeping every class's count means every member sees every labeled class, which a plain
    bootstrap of a few labels would often miss.
    """
    parts = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        parts.append(rng.choice(members, size=members.size, replace=True))
    return np.concatenate(parts)


class BootstrapCommittee(ClassifierMixin, BaseEstimator):
    """A bootstrap ensemble (bagging) of heads.

    Parameters
    ----------
    head: an unfitted :class:`~labelwise.learn.heads.Head` (or any classifier with a fixed
        ``classes`` list); cloned for each member.
    n_members: m, the number of members.
    random_state: seed of the resampling.
    """

    def __init__(self, head: Head | None = None, n_members: int = 5, random_state: int | None = None) -> None:
        self.head = head
        self.n_members = n_members
        self.random_state = random_state

    @property
    def semi_supervised(self) -> bool:
        """Whether ``fit`` takes the whole pool with ``-1`` for unlabeled rows: as its head does."""
        return bool(getattr(self.head, "semi_supervised", False))

    def fit(self, X: np.ndarray, y: np.ndarray) -> BootstrapCommittee:
        """Fit on labeled rows, or, for a semi-supervised head, on the whole pool with ``-1`` for
        unlabeled rows: each member then sees the pool with the labels outside its resample hidden
        (a pool row cannot appear twice, so the resample's distinct rows keep their labels)."""
        if self.n_members < 1:
            raise ValueError(f"n_members: must be >= 1, got {self.n_members}")
        head = self.head if self.head is not None else Head()
        rng = np.random.default_rng(self.random_state)
        y = np.asarray(y)
        semi = self.semi_supervised
        labeled = np.flatnonzero(y != -1) if semi else np.arange(y.size)  # -1: the semi heads' unlabeled
        self.members_ = []
        for _ in range(self.n_members):
            rows = labeled[stratified_bootstrap(y[labeled], rng)]
            if semi:
                y_member = np.full_like(y, -1)
                y_member[rows] = y[rows]
                self.members_.append(clone(head).fit(X, y_member))
            else:
                self.members_.append(clone(head).fit(X[rows], y[rows]))
        self.classes_ = self.members_[0].classes_
        return self

    def predict_proba_samples(self, X: np.ndarray) -> np.ndarray:
        """Each member's probabilities, ``(m, n, k)``."""
        check_is_fitted(self, "members_")
        linears = [getattr(member, "linear_", None) for member in self.members_]
        if all(linear is not None for linear in linears):
            # One matrix product reads the pool once for all members instead of m times.
            m, k = len(linears), linears[0][0].shape[1]
            W = np.concatenate([w for w, _ in linears], axis=1).astype(X.dtype, copy=False)
            b = np.concatenate([b for _, b in linears]).astype(X.dtype, copy=False)
            logits = (X @ W + b).reshape(X.shape[0], m, k)
            probs = softmax_rows(logits.reshape(-1, k)).reshape(X.shape[0], m, k)
            # A contiguous (m, n, k) copy makes the strategies' reductions over members run on
            # whole slabs of memory instead of strided rows.
            return np.ascontiguousarray(probs.transpose(1, 0, 2))
        return np.stack([member.predict_proba(X) for member in self.members_])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Mean of the members' probabilities, ``(n, k)``."""
        return self.predict_proba_samples(X).mean(axis=0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
