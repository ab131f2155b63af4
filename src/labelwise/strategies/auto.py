"""``auto``: the default strategy. It switches from TypiClust to Cluster-Margin when the labels cover the pool.

The rule, from the literature and from our measurements (docs/heuristics.md):

1. While there is no model, or the labeled set does not yet cover the pool, take TypiClust: with few
   labels, uncertainty estimates are noise and the most typical image of each uncovered region
   teaches the most (Hacohen et al. 2022).
2. Once the labels cover the pool, Cluster-Margin: low-margin images, one per cluster, so the batch
   is uncertain but not redundant (Citovsky et al. 2021), plus an exploration share of ``EXPLORE``
   drawn at random, which keeps the model seeing regions its own uncertainty would ignore.

"Cover" is ProbCover's notion (Yehuda et al. 2022), the point at which they show the low-budget
regime ends: a labeled image covers the ball of radius delta around it, where delta is the largest
radius at which ``PURITY`` of the balls hold a single class. We take the classes from the current
model's predictions (no extra clustering, so the rule is deterministic and pool-order invariant), and
switch once most of the pool (``SWITCH_COVERAGE``, a majority) lies inside a labeled ball: from then
on most regions have a label that speaks for them, and what is left to learn is where the classes
meet. (Full coverage, PURITY, comes far too late: 0.61 on the toy set at 28 random labels, 0.85 on
digits at 500.) Nothing here depends
on a data set's size, dimension or number of classes: a 2-D binary toy set is covered after a few
labels, a 10-class image pool only after hundreds. In high dimensions coverage can stay low for
long (a hard binary pair is never covered), so the typical phase also ends at the old bound of
``MAX_TYPICAL_LABELS_PER_CLASS`` labels per class: coverage can only make the switch earlier.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.diversity import purity_radius, typiclust_select
from labelwise.strategies.geometry import min_sq_distance
from labelwise.strategies.hybrid import cluster_margin_select
from labelwise.strategies.registry import PoolView
from labelwise.strategies.selection import Selection, add_explorers

EXPLORE = 0.1
# Upper bound on the typical phase: in 64+ dimensions coverage grows slowly (Fashion-MNIST pixels: 0.14 at 200
# labels) and a hard binary pair never gets covered, while margin already wins there from about 50 labels.
MAX_TYPICAL_LABELS_PER_CLASS = 20
SWITCH_COVERAGE = 0.5  # a majority of the pool covered by labeled balls; a fraction, not a count tuned to a data set
COVERAGE_SAMPLE = 4_000  # pool points the coverage is measured on: the purity radius is quadratic in it
_DIRECTION_SEED = 0  # fixed, so the coverage sample is the same every round for the same pool
_KEY_CHUNK = 65_536


def _sample(X: np.ndarray) -> np.ndarray:
    """Up to ``COVERAGE_SAMPLE`` pool indices chosen from the data, not the pool order (order invariance).

    The rows are ordered by one key computed from their content, their dot product with a fixed random
    direction, and an even stride of that order is taken: the same items whatever the pool order. One key
    costs O(n d) plus one sort of n numbers (0.1 s at 1M x 256), where sorting by every column (lexsort)
    took 30 s at 1M.
    """
    n = X.shape[0]
    if n <= COVERAGE_SAMPLE:
        return np.arange(n)
    direction = np.random.default_rng(_DIRECTION_SEED).standard_normal(X.shape[1])
    key = np.empty(n)
    for start in range(0, n, _KEY_CHUNK):  # float64 in chunks: exact enough, without a float64 copy of the pool
        key[start : start + _KEY_CHUNK] = np.asarray(X[start : start + _KEY_CHUNK], dtype=np.float64) @ direction
    order = np.argsort(key, kind="stable")
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


def auto_phase(view: PoolView) -> str:
    """The strategy ``auto`` uses for this view: ``typiclust`` or ``cluster-margin``."""
    if view.probs is None:
        return "typiclust"
    n_classes = view.n_classes or view.probs.shape[1]
    if np.count_nonzero(view.labeled) >= MAX_TYPICAL_LABELS_PER_CLASS * n_classes:
        return "cluster-margin"
    return "typiclust" if labeled_coverage(view) < SWITCH_COVERAGE else "cluster-margin"


def auto_select(view: PoolView, n: int, rng: np.random.Generator, candidates: np.ndarray) -> Selection:
    if auto_phase(view) == "typiclust":
        return Selection(typiclust_select(view, n, rng, candidates))
    exploit = cluster_margin_select(view, n - round(EXPLORE * n), rng, candidates)
    return Selection.of(exploit, add_explorers(exploit, candidates, n, rng)[exploit.size :])
