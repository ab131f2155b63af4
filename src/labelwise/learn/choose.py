"""Heads by name, and ``auto``: the head chosen per retrain by cross-validation on the labels.

Which head wins depends on the project (do its classes form clusters in embedding space?) and on
the budget (graph smoothing helps most with few labels and can hurt later), so ``auto`` decides
again at every retrain, from the project's own labels:

1. Every labeled image is held out once (``folds`` shuffled folds). Each candidate is trained on
   the other labels; the semi-supervised ones also see the whole pool, unlabeled, including the
   held-out images (as they will at serving time). Only held-out labels are scored.
2. The candidate with the best held-out accuracy serves, unless the simplest candidate (the
   logistic head) is within noise of it: the mean of the paired per-image differences must exceed
   ``Z`` = 1 standard error of that mean (the "one standard error rule" of model selection,
   Breiman et al. 1984), else the simpler head serves. Both 1 and 2 standard errors were measured
   (docs/heads.md): 2 never switched on Fashion-MNIST and kept half the gain on digits, 1 kept the
   gains and lost at most 0.3 points at any budget.

A held-out image whose class has no other label cannot be predicted by any candidate: it is wrong
for all of them and adds nothing to the paired differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from labelwise.errors import LabelwiseError
from labelwise.learn.heads import Head
from labelwise.learn.semi import UNLABELED, LabelSpreadingHead, SelfTrainingHead, labeled_mask, split_labels

SIMPLEST = "logistic"
Z = 1.0  # standard errors a paired gain must exceed before a more complex head replaces the simplest
# The semi-supervised heads need the pool's exact k-nearest-neighbour graph: quadratic in the pool
# (about 9 s for 4,000 images on this machine's busy cores). Above this size ``auto`` keeps the
# logistic head, so a large project's retrain stays in seconds (the scale issue); a user may still
# name a semi-supervised head in the settings.
MAX_GRAPH_POOL = 50_000
CANDIDATES = ("logistic", "self-training", "label-spreading")


HEAD_SUMMARIES = {
    "auto": "chosen at each retrain by cross-validation on the labels",
    "logistic": "logistic regression on the labeled images",
    "self-training": "logistic, retrained on its own confident predictions of the pool",
    "label-spreading": "labels spread along the pool's nearest-neighbour graph",
}


def head_names() -> list[str]:
    return list(HEAD_SUMMARIES)


def make_head(name: str, classes, *, random_state: int = 0) -> Any:
    """An unfitted head by name: ``logistic``, ``label-spreading``, ``self-training`` or ``auto``."""
    if name == "logistic":
        return Head(classes=classes)
    if name == "label-spreading":
        return LabelSpreadingHead(classes=classes)
    if name == "self-training":
        return SelfTrainingHead(classes=classes)
    if name == "auto":
        return AutoHead(classes=classes, random_state=random_state)
    raise LabelwiseError(f"head: unknown {name!r}; known: {', '.join(head_names())}")


def head_name(head) -> str:
    """The registered name of a head object (its class name if it is not one of ours)."""
    names = {Head: "logistic", LabelSpreadingHead: "label-spreading", SelfTrainingHead: "self-training",
             AutoHead: "auto"}  # fmt: skip
    return names.get(type(head), type(head).__name__)


def is_semi_supervised(head) -> bool:
    """Whether ``head.fit`` takes the whole pool with ``-1`` for unlabeled rows (else the labeled rows only)."""
    return bool(getattr(head, "semi_supervised", False))


def fit_on_pool(head, X: np.ndarray, y: np.ndarray):
    """Fit ``head`` on pool ``X`` with labels ``y`` (-1 = unlabeled), whichever convention it takes."""
    if is_semi_supervised(head):
        return head.fit(X, y)
    rows = np.flatnonzero(labeled_mask(y))
    return head.fit(X[rows], y[rows])


def held_out_correct(head, X: np.ndarray, y: np.ndarray, folds: int = 5, random_state: int = 0) -> np.ndarray:
    """For each labeled row of the pool (in pool order), whether ``head`` trained without it (and its
    fold) predicts its label; ``(n_labeled,)`` bool. A fold whose training labels hold one class only
    counts its rows wrong."""
    labeled = np.flatnonzero(labeled_mask(y))
    y = y.astype(object) if y.dtype.kind in "US" else y.copy()  # -1 must fit among string labels
    correct = np.zeros(labeled.size, dtype=bool)
    splits = KFold(n_splits=min(folds, labeled.size), shuffle=True, random_state=random_state).split(labeled)
    for train, test in splits:
        y_fold = y.copy()
        y_fold[labeled[test]] = UNLABELED
        if np.unique(y_fold[labeled[train]]).size < 2:
            continue
        model = fit_on_pool(clone(head), X, y_fold)
        correct[test] = model.predict(X[labeled[test]]) == y[labeled[test]]
    return correct


def choose_head(scores: dict[str, np.ndarray]) -> tuple[str, str]:
    """The serving head's name and why, from each candidate's held-out correctness (same rows)."""
    means = {name: float(c.mean()) for name, c in scores.items()}
    best = max(means, key=lambda name: (means[name], name == SIMPLEST))
    summary = ", ".join(f"{name} {100 * m:.1f}%" for name, m in means.items())
    n = len(next(iter(scores.values())))
    if SIMPLEST not in scores:
        return best, f"best held-out accuracy on {n} labels ({summary})"
    if best == SIMPLEST:
        others = max((m for name, m in means.items() if name != SIMPLEST), default=-1.0)
        if means[SIMPLEST] > others:
            return best, f"best held-out accuracy on {n} labels ({summary})"
        # A tie, e.g. no held-out label's class had another label to learn it from.
        return SIMPLEST, f"no head beats {SIMPLEST} on {n} held-out labels ({summary})"
    diff = scores[best].astype(float) - scores[SIMPLEST].astype(float)
    se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    if diff.mean() > Z * se:
        return best, f"{best} beats {SIMPLEST} by more than the noise on {n} held-out labels ({summary})"
    return SIMPLEST, f"no head beats {SIMPLEST} by more than the noise on {n} held-out labels ({summary})"


class AutoHead(ClassifierMixin, BaseEstimator):
    """The head chosen at each fit by cross-validation on the labels (see the module docstring).

    Parameters
    ----------
    classes: every class of the project, in column order.
    candidates: head names to choose from; the logistic head is the simplest.
    folds: cross-validation folds (fewer when there are fewer labels).
    random_state: seed of the folds.

    After ``fit``: ``chosen_`` (name), ``reason_`` (one line), ``cv_accuracy_`` (name -> held-out
    accuracy), ``held_out_correct_`` (the chosen head's per-label outcomes), ``head_`` (the fitted
    chosen head).
    """

    semi_supervised = True

    def __init__(self, classes=(0, 1), candidates: tuple[str, ...] = CANDIDATES, folds: int = 5,
                 random_state: int = 0) -> None:  # fmt: skip
        self.classes = classes
        self.candidates = candidates
        self.folds = folds
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> AutoHead:
        y = np.asarray(y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y: {X.shape[0]} rows against {y.shape[0]} labels")
        if "auto" in self.candidates or not self.candidates:
            raise ValueError(f"candidates: need named heads other than auto, got {list(self.candidates)}")
        self.classes_ = np.asarray(self.classes)
        split_labels(self.classes_, y)  # refuses unknown labels and a single class, as every head does
        names, why_one = self.candidates, "the only candidate"
        if X.shape[0] > MAX_GRAPH_POOL and SIMPLEST in names:
            names = (SIMPLEST,)
            why_one = (f"a pool of {X.shape[0]:,} images is above the {MAX_GRAPH_POOL:,} for which the exact "
                       "neighbour graph of the semi-supervised heads is built")  # fmt: skip
        heads = {name: make_head(name, self.classes) for name in names}
        if len(heads) == 1:
            self.chosen_, self.reason_, self.cv_accuracy_ = next(iter(heads)), why_one, {}
            self.held_out_correct_ = None
        else:
            scores = {name: held_out_correct(h, X, y, self.folds, self.random_state) for name, h in heads.items()}
            self.cv_accuracy_ = {name: float(c.mean()) for name, c in scores.items()}
            self.chosen_, self.reason_ = choose_head(scores)
            self.held_out_correct_ = scores[self.chosen_]
        self.head_ = fit_on_pool(heads[self.chosen_], X, y)
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def linear_(self):
        check_is_fitted(self, "head_")
        return getattr(self.head_, "linear_", None)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.head_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
