"""``auto``: the default strategy. TypiClust while typical picks pay, then margin, one image per pool cluster.

The rule, from the literature and from our measurements (docs/heuristics.md):

1. While there is no model, or the labels do not yet show that uncertainty pays, take TypiClust: with
   few labels, uncertainty estimates are noise and the most typical image of each uncovered region
   teaches the most (Hacohen et al. 2022).
2. Afterwards, the lowest-margin image of each pool cluster before a second one of any cluster
   (Cluster-Margin's diversity, Citovsky et al. 2021, with each cluster's most uncertain image instead
   of a random one), plus an exploration share of ``EXPLORE`` drawn at random. When the pool is
   long-tailed (the model's predicted shares of the labeled classes differ by ``IMBALANCE_RATIO`` or more),
   the batch first tops up the classes with fewer labels, each with its own lowest-margin images
   (class-balanced active learning, Bengar et al. 2022; Aggarwal et al. 2020): margin alone keeps asking
   about the large classes.

The switch is decided from the data, by the first of four tests that says so:

- the replay (:func:`regime_statistic`): SelectAL's question (Hacohen & Weinshall 2024) asked of the
  labels already given: within held-out folds of the labels, would a batch picked by margin or one
  picked by typicality teach a model more? Switch when margin's picks win beyond noise; asked from
  ``REGIME_FOLDS`` labels per class on (one per class per held-out fold);
- a long-tailed pool (:func:`class_balanced`), read from the same number of labels on: typical picks keep
  to the large classes, so the class-balanced margins start at once;
- coverage (ProbCover, Yehuda et al. 2022): a majority (``SWITCH_COVERAGE``) of the pool lies within the
  purity radius of a labeled item, classes taken from the model's predictions;
- a ceiling of ``MAX_TYPICAL_LABELS_PER_CLASS`` labels per class, the old fixed rule, kept as a bound.

Every test reads only the view (labels, embeddings, predictions), so the rule is a pure function: the
same labels give the same phase in the simulator and on the server, whatever the pool's order.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np
from sklearn.linear_model import LogisticRegression

from labelwise.strategies.diversity import purity_radius, typiclust_select
from labelwise.strategies.geometry import min_sq_distance, sq_distances
from labelwise.strategies.hybrid import cluster_margin_select
from labelwise.strategies.registry import PoolView
from labelwise.strategies.selection import Selection, add_explorers, top_k
from labelwise.strategies.uncertainty import margin

EXPLORE = 0.1
HIGH_BUDGET = "margin-per-cluster"  # the high-budget phase; "margin" and "cluster-margin" kept for comparison
# Upper bound on the typical phase: in 64+ dimensions coverage grows slowly (Fashion-MNIST pixels: 0.14 at 200
# labels) and a hard binary pair never gets covered, while margin already wins there from about 50 labels.
MAX_TYPICAL_LABELS_PER_CLASS = 20
SWITCH_COVERAGE = 0.5  # a majority of the pool covered by labeled balls; a fraction, not a count tuned to a data set
COVERAGE_SAMPLE = 4_000  # pool points the coverage is measured on: the purity radius is quadratic in it
_DIRECTION_SEED = 0  # fixed, so the coverage sample is the same every round for the same pool
_KEY_CHUNK = 65_536
REGIME_FOLDS = 5  # held-out folds of the labels for the regime test
TYPICALITY_K = 20  # neighbours of TypiClust's typicality (Hacohen et al. 2022 use 20)
REGIME_Z = 1.645  # one-sided 5% test: the labels must show that margin's picks teach more, beyond noise
_PROB_FLOOR = 1e-3  # a class a half-set never saw still gets this probability: a finite log-loss
# A pool counts as long-tailed from the smallest imbalance ratio (largest over smallest class) of the standard
# long-tailed benchmarks (CIFAR-10/100-LT use 10 to 200: Cui et al. 2019, Cao et al. 2019). Balanced pools
# read 1 to 3 (Fashion-MNIST, digits, the binary sets of our suite), so the rule leaves them alone.
IMBALANCE_RATIO = 10.0


def _key(X: np.ndarray) -> np.ndarray:
    """One number per row from its content (dot product with a fixed random direction): pool-order invariant."""
    direction = np.random.default_rng(_DIRECTION_SEED).standard_normal(X.shape[1])
    key = np.empty(X.shape[0])
    for start in range(0, X.shape[0], _KEY_CHUNK):  # float64 in chunks: exact enough, without a float64 copy
        key[start : start + _KEY_CHUNK] = np.asarray(X[start : start + _KEY_CHUNK], dtype=np.float64) @ direction
    return key


# The last pool's sample: the sample depends on the embeddings alone, and auto reads it several times per
# batch (coverage and replay, on describe and on select): 8 s per read at 1M x 256 on the loaded machine.
# A weak reference, so the cache never keeps a pool alive; identity and shape must match.
_last_sample: tuple[weakref.ref, tuple, np.ndarray] | None = None


def _sample(X: np.ndarray) -> np.ndarray:
    global _last_sample
    cached = _last_sample
    key = (X.shape, COVERAGE_SAMPLE)
    if cached is not None and cached[0]() is X and cached[1] == key:
        return cached[2]
    sample = _compute_sample(X)
    with contextlib.suppress(TypeError):  # an array-like without weak references: no cache
        _last_sample = (weakref.ref(X), key, sample)
    return sample


def _compute_sample(X: np.ndarray) -> np.ndarray:
    """Up to ``COVERAGE_SAMPLE`` pool indices chosen from the data, not the pool order (order invariance).

    The rows are ordered by one key computed from their content, their dot product with a fixed random
    direction, and an even stride of that order is taken: the same items whatever the pool order. One key
    costs O(n d) plus one sort of n numbers (0.1 s at 1M x 256), where sorting by every column (lexsort)
    took 30 s at 1M.
    """
    n = X.shape[0]
    if n <= COVERAGE_SAMPLE:
        return np.arange(n)
    order = np.argsort(_key(X), kind="stable")
    return order[np.linspace(0, n - 1, COVERAGE_SAMPLE).astype(int)]


def labeled_coverage(view: PoolView) -> float:
    """Fraction of the pool within the purity radius of a labeled item (classes from the model's predictions)."""
    labeled = np.flatnonzero(view.labeled)
    if view.probs is None or view.embeddings is None or labeled.size == 0:
        return 0.0
    X = np.asarray(view.embeddings, dtype=np.float32)
    sample = _sample(X)
    pseudo = np.argmax(np.asarray(view.probs)[sample], axis=1)
    delta = purity_radius(X[sample], pseudo)
    near = min_sq_distance(X[sample], X[labeled])
    # A labeled item covers itself even at delta 0 (|a|^2 + |b|^2 - 2ab rounds to a small positive number).
    return float(np.mean((near <= delta * delta) | np.asarray(view.labeled, dtype=bool)[sample]))


def _fit_proba(X: np.ndarray, y: np.ndarray, Z: np.ndarray, k: int) -> np.ndarray:
    """Probabilities over ``k`` classes on ``Z`` of the default head's model fitted on ``(X, y)``."""
    out = np.full((Z.shape[0], k), _PROB_FLOOR)
    present = np.unique(y)
    if present.size == 1:
        out[:, present[0]] = 1.0
    else:  # the default head's estimator (learn.heads.default_estimator): the model the labels will train
        model = LogisticRegression(C=1.0, max_iter=200, tol=1e-3).fit(X, y)
        out[:, model.classes_] = np.maximum(model.predict_proba(Z), _PROB_FLOOR)
    return out / out.sum(axis=1, keepdims=True)


def label_typicality(view: PoolView, labeled: np.ndarray) -> np.ndarray:
    """TypiClust's typicality of labeled items: 1 / mean distance to their nearest pool items (a sample)."""
    X = np.asarray(view.embeddings, dtype=np.float32)
    ref = X[_sample(X)]
    k = min(TYPICALITY_K, ref.shape[0] - 1)
    if k < 1:
        return np.ones(labeled.size)
    d = np.sqrt(sq_distances(X[labeled], ref))
    nearest = np.partition(d, k, axis=1)[:, : k + 1]  # k + 1: the item itself may be in the sample
    return 1.0 / (np.sort(nearest, axis=1)[:, 1:].mean(axis=1) + 1e-12)


def regime_statistic(view: PoolView) -> float | None:
    """The replay: would a batch picked by margin or one picked by typicality teach more? A t statistic.

    SelectAL's question (Hacohen & Weinshall 2024), asked of the labels already given. The labels are split
    into ``REGIME_FOLDS`` folds (by their embedding values: pool-order invariant). In each fold, the training
    labels are split in two: a "labeled so far" half and a "pool" half. A model fitted on the first half
    picks the lowest-margin half of the pool half; typicality (TypiClust's, against the pool) picks as many
    of the most typical. Both extended label sets train a model, scored by log-likelihood on the fold's
    held-out labels; then the halves swap roles. Returns the paired t statistic over the held-out labels
    of (log-likelihood after margin's picks - after typicality's): positive when margin's picks teach more.
    ``None`` when there are too few labels to ask (no true labels, fewer than two classes, or fewer than
    two labels per class on average).
    """
    if view.labels is None or view.embeddings is None:
        return None
    labels = np.asarray(view.labels)
    labeled = np.flatnonzero(np.asarray(view.labeled, dtype=bool) & (labels >= 0))
    y = labels[labeled]
    k = int(view.n_classes or (y.max() + 1 if y.size else 0))
    present = np.unique(y)
    if present.size < 2 or labeled.size < 2 * present.size:
        return None
    X = np.asarray(view.embeddings, dtype=np.float32)[labeled]
    typ = label_typicality(view, labeled)
    rank = np.argsort(np.argsort(_key(X), kind="stable"))
    folds = rank % min(REGIME_FOLDS, labeled.size)
    diff = np.zeros(labeled.size)  # per held-out label: log-likelihood after margin's picks minus typicality's
    for fold in np.unique(folds):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        train = train[np.argsort(rank[train])]
        # Two replays with the halves swapped: each training label is once "labeled" and once "pool".
        for base, rest in ((train[::2], train[1::2]), (train[1::2], train[::2])):
            n_pick = (rest.size + 1) // 2
            by_typicality = rest[np.argsort(-typ[rest], kind="stable")[:n_pick]]
            base_proba = _fit_proba(X[base], y[base], X[rest], k)
            by_margin = rest[np.argsort(margin(base_proba), kind="stable")[::-1][:n_pick]]
            typical, uncertain = (
                _fit_proba(X[part], y[part], X[test], k)[np.arange(test.size), y[test]]
                for part in (np.concatenate([base, by_typicality]), np.concatenate([base, by_margin]))
            )
            diff[test] += (np.log(uncertain) - np.log(typical)) / 2
    sd = diff.std(ddof=1)
    return float(diff.mean() / (sd / np.sqrt(diff.size))) if sd > 0 else 0.0


def typical_labels_teach_more(view: PoolView) -> bool | None:
    """``regime_statistic`` as a decision, ``None`` when it cannot be asked.

    A paired one-sided test: margin's picks must teach more beyond noise (t above ``REGIME_Z``); in doubt,
    stay typical, whose picks are never far behind at a low budget.
    """
    t = regime_statistic(view)
    return None if t is None else bool(t <= REGIME_Z)


def auto_phase(view: PoolView) -> str:
    """The strategy ``auto`` uses for this view: ``typiclust`` or ``cluster-margin``."""
    if view.probs is None:
        return "typiclust"
    n_classes = view.n_classes or view.probs.shape[1]
    n_labeled = np.count_nonzero(view.labeled)
    if n_labeled >= MAX_TYPICAL_LABELS_PER_CLASS * n_classes:
        return "cluster-margin"
    if labeled_coverage(view) >= SWITCH_COVERAGE:
        return "cluster-margin"
    # Below one label per class per held-out fold, the labels are too few to read a regime or the pool's class
    # shares from: at 20 labels of 10 classes the replay holds out 4 labels per fold, and one noisy "switch" in 5
    # seeds cost Fashion-MNIST 1.5 points at 50 labels.
    if n_labeled < REGIME_FOLDS * n_classes:
        return "typiclust"
    if class_balanced(view):  # a long tail: typical picks keep to the large classes, the rare ones need margins
        return "cluster-margin"
    return "cluster-margin" if typical_labels_teach_more(view) is False else "typiclust"


def predicted_imbalance(view: PoolView) -> float:
    """Largest over smallest class share of the pool, the shares being the model's mean probabilities.

    Only classes with a label count (when the labels are known): a class nobody has labeled yet has a near-zero
    share on any pool, long-tailed or not. Soft shares, not arg-max counts: a class the model never predicts
    still has a small, finite share. 1.0 with fewer than two such classes.
    """
    share = np.asarray(view.probs, dtype=np.float64).mean(axis=0)
    if view.labels is not None:
        labels = np.asarray(view.labels)[np.asarray(view.labeled, dtype=bool)]
        share = share[np.unique(labels[(labels >= 0) & (labels < share.size)])]
    if share.size < 2:
        return 1.0
    return float(share.max() / max(share.min(), 1e-12))


def class_balanced(view: PoolView) -> bool:
    """Whether the high-budget phase balances classes: true labels known and a long-tailed pool."""
    return view.labels is not None and predicted_imbalance(view) >= IMBALANCE_RATIO


def auto_label(view: PoolView) -> str:
    """What ``auto`` does for this view, as shown to the user (``auto: typiclust``, ...)."""
    phase = auto_phase(view)
    balanced = phase != "typiclust" and class_balanced(view)
    return f"auto: {phase}" + (" (class-balanced)" if balanced else "")


def class_balanced_margin(view: PoolView, n: int, candidates: np.ndarray) -> np.ndarray:
    """``n`` candidates that bring the labeled set toward equal class counts, lowest margins first.

    Class-balanced selection (Bengar et al. 2022, "Class-Balanced Active Learning for Image Classification"):
    with ``c_j`` labels of class ``j`` and ``L`` labels in all, class ``j`` is owed ``max(0, (L + n) / k - c_j)``
    picks, scaled down to ``n`` in all and capped by the candidates the model predicts as ``j``; each class
    gives its lowest-margin candidates. What the quotas leave (rounding, classes with too few candidates)
    goes to :func:`margin_per_cluster`.
    """
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    probs = np.asarray(view.probs)[candidates]
    k = probs.shape[1]
    labels = np.asarray(view.labels)[np.asarray(view.labeled, dtype=bool)]
    counts = np.bincount(labels[labels >= 0], minlength=k)[:k]
    predicted = np.argmax(probs, axis=1)
    available = np.bincount(predicted, minlength=k)
    owed = np.minimum(np.maximum((counts.sum() + n) / k - counts, 0.0), available)
    quota = np.minimum(np.floor(owed * n / max(owed.sum(), 1.0)).astype(np.intp), available)
    scores = margin(probs)
    picks = []
    for c in np.flatnonzero(quota):
        members = np.flatnonzero(predicted == c)
        order = np.lexsort((candidates[members], -scores[members]))  # most uncertain first; ties by index
        picks.append(candidates[members[order[: quota[c]]]])
    chosen = np.concatenate(picks) if picks else np.empty(0, dtype=np.intp)
    rest = np.setdiff1d(candidates, chosen, assume_unique=True)
    return np.concatenate([chosen, margin_per_cluster(view, n - chosen.size, rest)]).astype(np.intp)


def margin_per_cluster(view: PoolView, n: int, candidates: np.ndarray) -> np.ndarray:
    """The ``n`` lowest-margin candidates, at most one per pool cluster until every cluster has given one.

    Cluster-Margin's diversity (Citovsky et al. 2021) without its random draw inside a cluster: when the
    batch is a large share of what is left (a small pool), Cluster-Margin's prefilter keeps nearly every
    item and its picks become a cluster-stratified random sample; here each cluster still gives its most
    uncertain item first.
    """
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    scores = margin(view.probs[candidates])
    order = np.lexsort((candidates, -scores))  # most uncertain first; ties by index (deterministic)
    ranked = candidates[order]
    if view.clusters is None:
        return ranked[:n]
    clusters = np.asarray(view.clusters)[ranked]
    # Each item's depth in its cluster (0 for the cluster's most uncertain); a stable sort keeps the order.
    by_cluster = np.argsort(clusters, kind="stable")
    sorted_clusters = clusters[by_cluster]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_clusters)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, ranked.size]))
    depth = np.empty(ranked.size, dtype=np.intp)
    depth[by_cluster] = np.arange(ranked.size) - group_start
    return ranked[np.lexsort((np.arange(ranked.size), depth))[:n]]


def auto_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> Selection:
    if auto_phase(view) == "typiclust":
        return Selection(typiclust_select(view, n, rng, candidates))
    n_exploit = n - round(EXPLORE * n)
    if class_balanced(view):
        exploit = class_balanced_margin(view, n_exploit, candidates)
    elif HIGH_BUDGET == "margin":
        exploit = candidates[top_k(margin(view.probs[candidates]), n_exploit, rng)]
    elif HIGH_BUDGET == "margin-per-cluster":
        exploit = margin_per_cluster(view, n_exploit, candidates)
    else:
        exploit = cluster_margin_select(view, n_exploit, rng, candidates)
    return Selection.of(exploit, add_explorers(exploit, candidates, n, rng)[exploit.size :])
