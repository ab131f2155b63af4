"""Heads by name, and ``auto``: the head chosen per retrain by cross-validation on the labels.

Which head wins depends on the project (do its classes form clusters in embedding space?) and on
the budget (graph smoothing helps most with few labels and can hurt later), so ``auto`` decides
again at every retrain, from the project's own labels:

1. The prior: the semi-supervised heads are candidates only while the project has at most
   ``MAX_LABELS_PER_CLASS`` labels per class. Semi-supervised learning helps most when labels are
   scarce and its benefit shrinks, then turns negative, as they grow (Zhu 2005, section 11; Oliver
   et al. 2018, figure 4). On the label-efficiency suite (docs/heads.md) the earlier ``auto`` lost
   at 50 and more labels per class (digits -0.5 at 500, long tail -1.3 at 1,000, near-duplicates
   -0.5 to -2.0 from 500 to 2,000) and gained above 20 per class only once (+0.9, long tail at 500).
2. Every labeled image is held out once (``folds`` shuffled folds). Each candidate is trained on
   the other labels; the semi-supervised ones also see the whole pool, unlabeled, including the
   held-out images (as they will at serving time). Only held-out labels are scored.
3. The default head serves unless the candidate with the best held-out accuracy beats it on
   significantly more held-out labels than it loses: an exact one-sided sign test on the labels
   where the two disagree (McNemar's exact test), at ``SIGNIFICANCE`` = 0.05, the conventional level.
   The test needs at least 5 such labels (5 of 5 won: p = 1/32), so a few lucky folds on a handful
   of labels cannot move ``auto``; the one-standard-error rule it replaces (a z of 1, about p = 0.16)
   did, and lost up to 1.7 points on the toy set at 4 labels.
4. The default head is the logistic head, except with few labels: with at most
   ``GRAPH_LABELS_PER_CLASS`` (1) label per class, label spreading if the labels were picked by a
   coverage-first strategy (``GRAPH_DEFAULT_STRATEGIES``: ``auto``, whose first phase at that budget
   is TypiClust, ``typiclust``, ``probcover``), else self-training; self-training with at most
   ``SELF_TRAINING_LABELS_PER_CLASS`` (2). There cross-validation has almost nothing to hold out (a
   class with one label cannot be predicted once it is held out), so the default must be safe
   without evidence. Measured on seven data sets (docs/heads.md), self-training at 1 or 2 labels per
   class was never below the logistic head, with random labels as with ``auto``'s (+0.5 to +5.3 at
   1/class), and label spreading at 2 per class was. Label spreading at 1 per class gained most
   from ``auto``'s typical picks (+1.7 to +11.4, and +5.1 served on a set the rule was not derived
   on) but lost with random ones on that set (-3.2): propagation from typical, dense-region seeds is
   where it was measured to gain, as TypiClust pairs its picks with semi-supervised learning
   (Hacohen et al. 2022); from other picks (random, uncertainty, k-center, a user's own) it was not
   safe. Graph propagation from one label per class is the classic setting of Zhou et al. (2004),
   and pseudo-labelling's gains are largest at the smallest budgets (Lee 2013).

A held-out image whose class has no other label cannot be predicted by any candidate: it is wrong
for all of them and adds nothing to the paired comparison.

References
----------
Zhu (2005). Semi-supervised learning literature survey. University of Wisconsin TR 1530.
Oliver, Odena, Raffel, Cubuk, Goodfellow (2018). Realistic evaluation of deep semi-supervised
learning algorithms. NeurIPS.
McNemar (1947). Note on the sampling error of the difference between correlated proportions.
Dietterich (1998). Approximate statistical tests for comparing supervised classification learning
algorithms. Neural Computation.
Zhou, Bousquet, Lal, Weston, Schölkopf (2004). Learning with local and global consistency. NeurIPS.
Lee (2013). Pseudo-label: the simple and efficient semi-supervised learning method for deep neural
networks. ICML workshop.
Hacohen, Dekel, Weinshall (2022). Active learning on a budget: opposite strategies suit high and
low budgets. ICML.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from labelwise.errors import LabelwiseError
from labelwise.learn.heads import Head
from labelwise.learn.semi import UNLABELED, LabelSpreadingHead, SelfTrainingHead, labeled_mask, split_labels

SIMPLEST = "logistic"
SIGNIFICANCE = 0.05  # one-sided level of the sign test a candidate must pass to replace the default head
# Semi-supervised candidates only up to this many labels per project class (point 1 above):
# on the suite, auto's gains were at 1 to 20 labels per class, its losses over 0.5 points at 50 and more.
MAX_LABELS_PER_CLASS = 20
# The default head (point 4 above) with few labels: up to 1 label per project class, label spreading
# after coverage-first picks, else self-training; self-training up to 2. On seven data sets, label
# spreading at 1 per class after auto's picks was +1.7 to +11.4 points over the logistic head, but
# -3.2 with random labels on a set the rule was not derived on; self-training at 1 or 2 per class
# was +0.5 to +8.8 with either picks, while label spreading at 2 per class fell to -1.2 (docs/heads.md).
GRAPH_LABELS_PER_CLASS = 1
# The strategies whose first labels are typical images of dense regions, from which label spreading
# at 1 label per class was measured to gain (``auto`` is TypiClust at that budget).
GRAPH_DEFAULT_STRATEGIES = frozenset({"auto", "typiclust", "probcover"})
SELF_TRAINING_LABELS_PER_CLASS = 2
# Label spreading needs the pool's neighbour graph: 54 s for 100,000 x 256 (faiss IVF, one busy core,
# benchmarks/bench_heads.py), n^1.5 to n^1.8, built once per pool and kept on disk. Above this
# size ``auto`` leaves label spreading out, so a large project's first retrain is not held up for
# minutes; a user may still name it in the settings.
MAX_GRAPH_POOL = 100_000
CANDIDATES = ("logistic", "self-training", "label-spreading")


HEAD_SUMMARIES = {
    "auto": "chosen at each retrain by cross-validation on the labels",
    "logistic": "logistic regression on the labeled images",
    "self-training": "logistic, retrained on its own confident predictions of the pool",
    "label-spreading": "labels spread along the pool's nearest-neighbour graph",
}


def head_names() -> list[str]:
    return list(HEAD_SUMMARIES)


def make_head(name: str, classes, *, random_state: int = 0, strategy: str | None = None) -> Any:
    """An unfitted head by name: ``logistic``, ``label-spreading``, ``self-training`` or ``auto``.

    strategy: the selection strategy that picks the labels (``None``: not known, e.g. a user's own);
    ``auto`` defaults to label spreading at 1 label per class only after a strategy of
    ``GRAPH_DEFAULT_STRATEGIES`` (point 4 of the module docstring)."""
    if name == "logistic":
        return Head(classes=classes)
    if name == "label-spreading":
        return LabelSpreadingHead(classes=classes)
    if name == "self-training":
        return SelfTrainingHead(classes=classes)
    if name == "auto":
        return AutoHead(classes=classes, random_state=random_state, graph_default=strategy in GRAPH_DEFAULT_STRATEGIES)
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


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test: ``P(X >= wins)`` for ``X ~ Binomial(wins + losses, 1/2)``; 1.0 with no
    disagreement."""
    n = wins + losses
    return sum(comb(n, i) for i in range(wins, n + 1)) / 2**n if n else 1.0


def choose_head(scores: dict[str, np.ndarray], default: str = SIMPLEST) -> tuple[str, str]:
    """The serving head's name and why, from each candidate's held-out correctness (same rows): the
    best candidate if it beats ``default`` significantly (sign test, ``SIGNIFICANCE``), else ``default``."""
    means = {name: float(c.mean()) for name, c in scores.items()}
    best = max(means, key=lambda name: (means[name], name == default))
    summary = ", ".join(f"{name} {100 * m:.1f}%" for name, m in means.items())
    n = len(next(iter(scores.values())))
    if default not in scores:
        return best, f"best held-out accuracy on {n} labels ({summary})"
    if best == default:
        others = max((m for name, m in means.items() if name != default), default=-1.0)
        if means[default] > others:
            return best, f"best held-out accuracy on {n} labels ({summary})"
        # A tie, e.g. no held-out label's class had another label to learn it from.
        return default, f"no head beats {default} on {n} held-out labels ({summary})"
    wins = int(np.sum(scores[best] & ~scores[default]))
    losses = int(np.sum(~scores[best] & scores[default]))
    p = sign_test_p(wins, losses)
    record = f"right on {wins}, wrong on {losses} of the labels where they disagree, p = {p:.3f}"
    if p <= SIGNIFICANCE:
        return best, f"{best} beats {default} on {n} held-out labels ({record}; {summary})"
    return default, f"no head beats {default} significantly on {n} held-out labels ({best} {record}; {summary})"


def default_head(
    names: tuple[str, ...], n_labels: int, n_classes: int, graph_default: bool = False
) -> tuple[str, str | None]:
    """The head that serves unless another beats it significantly (point 4 of the module docstring),
    and why, when the way the labels were picked decided it (for the dashboard's reason), else ``None``:
    with at most ``GRAPH_LABELS_PER_CLASS`` labels per class label spreading if ``graph_default`` (the
    labels were picked coverage-first), with at most ``SELF_TRAINING_LABELS_PER_CLASS`` self-training,
    else the logistic head (each only if it is a candidate)."""
    if n_labels <= GRAPH_LABELS_PER_CLASS * n_classes:
        if graph_default and "label-spreading" in names:
            return "label-spreading", "label-spreading is the default at 1 label per class after coverage-first picks"
        if not graph_default and "self-training" in names:
            return "self-training", ("self-training is the default at 1 label per class: label-spreading only after "
                                     "coverage-first picks (auto, typiclust, probcover)")  # fmt: skip
    if "self-training" in names and n_labels <= SELF_TRAINING_LABELS_PER_CLASS * n_classes:
        return "self-training", None
    return SIMPLEST, None


class AutoHead(ClassifierMixin, BaseEstimator):
    """The head chosen at each fit by cross-validation on the labels (see the module docstring).

    Parameters
    ----------
    classes: every class of the project, in column order.
    candidates: head names to choose from; the logistic head is the simplest.
    folds: cross-validation folds (fewer when there are fewer labels).
    random_state: seed of the folds.
    graph_default: whether the labels are picked by a coverage-first strategy
    (``GRAPH_DEFAULT_STRATEGIES``), which makes label spreading the default head at 1 label per
    class; else self-training is (point 4 of the module docstring).

    After ``fit``: ``chosen_`` (name), ``reason_`` (one line), ``cv_accuracy_`` (name -> held-out
    accuracy), ``held_out_correct_`` (the chosen head's per-label outcomes), ``head_`` (the fitted
    chosen head).
    """

    semi_supervised = True

    def __init__(self, classes=(0, 1), candidates: tuple[str, ...] = CANDIDATES, folds: int = 5,
                 random_state: int = 0, graph_default: bool = False) -> None:  # fmt: skip
        self.classes = classes
        self.candidates = candidates
        self.folds = folds
        self.random_state = random_state
        self.graph_default = graph_default

    def fit(self, X: np.ndarray, y: np.ndarray) -> AutoHead:
        y = np.asarray(y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y: {X.shape[0]} rows against {y.shape[0]} labels")
        if "auto" in self.candidates or not self.candidates:
            raise ValueError(f"candidates: need named heads other than auto, got {list(self.candidates)}")
        self.classes_ = np.asarray(self.classes)
        split_labels(self.classes_, y)  # refuses unknown labels and a single class, as every head does
        names, notes = list(self.candidates), []
        n_labels = int(labeled_mask(y).sum())
        if n_labels > MAX_LABELS_PER_CLASS * len(self.classes_) and SIMPLEST in names:
            names = [SIMPLEST]
            notes.append(f"{n_labels:,} labels are more than {MAX_LABELS_PER_CLASS} per class, where learning "
                         "from the unlabeled pool stops paying")  # fmt: skip
        if X.shape[0] > MAX_GRAPH_POOL and "label-spreading" in names and len(names) > 1:
            names.remove("label-spreading")
            notes.append(f"label-spreading left out: a pool of {X.shape[0]:,} images is above the "
                         f"{MAX_GRAPH_POOL:,} for which its neighbour graph is built")  # fmt: skip
        heads = {name: make_head(name, self.classes) for name in names}
        if len(heads) == 1:
            self.chosen_, self.cv_accuracy_ = names[0], {}
            self.reason_ = "; ".join(notes) or "the only candidate"
            self.held_out_correct_ = None
        else:
            scores = {name: held_out_correct(h, X, y, self.folds, self.random_state) for name, h in heads.items()}
            self.cv_accuracy_ = {name: float(c.mean()) for name, c in scores.items()}
            default, note = default_head(tuple(heads), n_labels, len(self.classes_), self.graph_default)
            self.chosen_, reason = choose_head(scores, default)
            self.reason_ = "; ".join([reason, *notes, *([note] if note else [])])
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
