"""One object that runs active learning on a pool of feature vectors.

It holds the pool (features, which items are labeled, their labels), trains a head or a
committee, scores the whole pool, selects a batch, accepts labels and records the history.

Cold start: with fewer than two labeled classes there is no model. ``query`` then falls back to
``cold_start`` (``random`` by default; a diversity strategy that needs only embeddings can be
named instead) and the history says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

from labelwise.learn import BootstrapCommittee, Head
from labelwise.learn.choose import head_name, held_out_correct, is_semi_supervised
from labelwise.loop.audit import accuracy_estimate
from labelwise.loop.history import RoundRecord
from labelwise.loop.ranking import RankedQueue, rank_pool
from labelwise.loop.stopping import StopDecision, StoppingCriterion
from labelwise.strategies import PoolView, Strategy, get_strategy
from labelwise.strategies.diversity import pool_typicality
from labelwise.strategies.geometry import cluster_pool
from labelwise.strategies.uncertainty import least_confidence

Oracle = Callable[[np.ndarray], np.ndarray]

# From this many images on, TypiClust's clusters and typicality come from the pool's label-independent
# clustering, made once (PoolView.clusters, .typicality), instead of a k-means of the whole pool per batch
# and a typicality over the picked cluster per pick (at a million images and 10 clusters, one pick is a
# 100,000 x 5,000 distance matrix). Smaller pools keep the paper's exact procedure, whose cost stays in
# seconds there. A cost bound, not a quality one; not measured at 1M per batch (docs/server.md).
TYPICALITY_ONCE_FROM = 50_000


class ActiveLoop:
    """Active learning over ``X`` ``(N, d)`` with a fixed list of ``n_classes`` classes.

    Labels are class indices ``0 .. n_classes - 1``; ``-1`` marks an unlabeled item.

    Parameters
    ----------
    strategy: a registered strategy name or a :class:`Strategy`.
    head: an unfitted classifier with a fixed class list (default :class:`Head`, the logistic head),
        e.g. :func:`~labelwise.learn.choose.make_head`; a semi-supervised head is fitted on the whole
        pool, with ``-1`` for the unlabeled images.
    n_members: committee size, used when the strategy needs committee samples.
    X_test, y_test: an optional held-out set; its accuracy is recorded each round.
    estimate_accuracy: cross-validate accuracy on the labels each round (default: when there
        is no held-out set).
    candidates, explore: the explore/exploit controls of
        :func:`~labelwise.strategies.select_top`.
    stop_set_size: size of the fixed unlabeled stop set for stabilizing predictions.
    first_round: the number of this loop's first round; the server counts its retrains with it, so
        that its k-th retrain draws what the simulator's k-th round draws.
    audit_fraction: share of each queried batch (at least one) drawn uniformly at random from the
        unlabeled pool and scored by the current model before its label arrives; their agreement
        with the labels is recorded as ``audit_accuracy`` with its Wilson 95% interval
        (``audit_accuracy_low``/``_high``, ``audit_n``), the estimate the product shows
        (:mod:`labelwise.loop.audit`).
    """

    def __init__(
        self,
        X: np.ndarray,
        n_classes: int,
        *,
        strategy: str | Strategy = "auto",
        head: Head | None = None,
        n_members: int = 5,
        X_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        estimate_accuracy: bool | None = None,
        candidates: int | None = None,
        explore: float = 0.0,
        cold_start: str = "random",
        stop_set_size: int = 2000,
        audit_fraction: float = 0.0,
        seed: int = 0,
        first_round: int = 0,
        pool_clusters: np.ndarray | None = None,
        pool_typicality: np.ndarray | None = None,
    ) -> None:
        if n_classes < 2:
            raise ValueError(f"n_classes: need at least 2 classes, got {n_classes}")
        self.X = X
        self.n_classes = n_classes
        self.strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
        self.cold_start = get_strategy(cold_start)
        self.head = head if head is not None else Head(classes=list(range(n_classes)))
        self.n_members = n_members
        self.X_test, self.y_test = X_test, y_test
        self.estimate_accuracy = X_test is None if estimate_accuracy is None else estimate_accuracy
        self.candidates, self.explore, self.seed = candidates, explore, seed
        self.audit_fraction = audit_fraction
        # Per audit label: labels the serving model was trained on, its prediction, the label.
        self._audit: list[tuple[int, int, int]] = []
        self.labels = np.full(X.shape[0], -1, dtype=np.int64)
        rng = np.random.default_rng(seed)
        self.stop_set = np.sort(rng.choice(X.shape[0], size=min(stop_set_size, X.shape[0]), replace=False))
        self.model: Head | BootstrapCommittee | None = None
        self.history: list[RoundRecord] = []
        self._round = first_round
        self.last_selected: np.ndarray | None = None
        self.last_strategy = "initial"
        # The pool's label-independent clustering, made at the first round that needs it and kept
        # (or given, by a caller that keeps it between loops: the training worker).
        self.pool_clusters = pool_clusters
        self.pool_typicality = pool_typicality  # the same, for TypiClust's typicality (large pools only)

    # -- state ---------------------------------------------------------------------------
    @property
    def labeled(self) -> np.ndarray:
        return self.labels >= 0

    @property
    def n_labeled(self) -> int:
        return int(self.labeled.sum())

    @property
    def uses_committee(self) -> bool:
        return "samples" in self.strategy.needs

    def teach(self, indices: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray) -> None:
        """Record labels (class indices) for pool items; relabeling overwrites."""
        indices, labels = np.asarray(indices, dtype=np.intp), np.asarray(labels, dtype=np.int64)
        if indices.shape != labels.shape:
            raise ValueError(f"indices and labels: shapes {indices.shape} and {labels.shape} differ")
        if indices.size and (indices.min() < 0 or indices.max() >= self.X.shape[0]):
            raise IndexError(f"indices: must lie in [0, {self.X.shape[0]})")
        bad = labels[(labels < 0) | (labels >= self.n_classes)]
        if bad.size:
            raise ValueError(f"labels: {bad[:5].tolist()} are not class indices in [0, {self.n_classes})")
        self.labels[indices] = labels

    # -- learning ------------------------------------------------------------------------
    def fit(self) -> Head | BootstrapCommittee | None:
        """Train on the labels; ``None`` (no model) below two labeled classes."""
        y = self.labels[self.labeled]
        if np.unique(y).size < 2:
            self.model = None
            return None
        if self.uses_committee:
            model = BootstrapCommittee(self.head, n_members=self.n_members, random_state=self.seed + self._round)
        else:
            model = clone(self.head)
        if is_semi_supervised(self.head):
            self.model = model.fit(self.X, self.labels)
        else:
            self.model = model.fit(self.X[self.labeled], y)
        return self.model

    @property
    def head_choice(self) -> dict[str, object]:
        """Which head serves and why: ``{"head": name, "reason": line}`` (``auto`` says what it chose)."""
        model = self.model
        if isinstance(model, BootstrapCommittee):
            model = model.members_[0]
        chosen = getattr(model, "chosen_", None)
        if chosen is not None:
            return {"head": chosen, "reason": f"auto: {model.reason_}", "cv_accuracy": model.cv_accuracy_}
        return {"head": head_name(self.head), "reason": "the project's head setting"}

    def pool_view(self) -> PoolView:
        """Predictions over the whole pool, computed once for what the strategy needs."""
        probs = samples = None
        if self.model is not None:
            if isinstance(self.model, BootstrapCommittee):
                samples = self.model.predict_proba_samples(self.X)
                probs = samples.mean(axis=0)
            else:
                probs = self.model.predict_proba(self.X)
        large = self.X.shape[0] >= TYPICALITY_ONCE_FROM
        grouped = self.strategy.uses_clusters or (large and bool(self.strategy.uses_typicality))
        if self.pool_clusters is None and grouped:
            self.pool_clusters = cluster_pool(self.X, self.seed)
        view = PoolView(
            labeled=self.labeled, probs=probs, samples=samples, embeddings=self.X, labels=self.labels,
            n_classes=self.n_classes, clusters=self.pool_clusters if grouped else None,
        )  # fmt: skip
        if large and self.strategy.reads_typicality(view):
            if self.pool_typicality is None:
                self.pool_typicality = pool_typicality(self.X, self.pool_clusters)
            view = replace(view, typicality=self.pool_typicality)
        return view

    @property
    def round_seed(self) -> int:
        """The seed of this round's selection: different each round, the same for a seed and round."""
        return self.seed * 100_003 + self._round

    def query(self, n: int, view: PoolView | None = None) -> np.ndarray:
        """Indices of the next ``n`` items to label (fewer if the pool runs out)."""
        return self.rank(batch_size=n, queue_size=n, view=view).indices

    def rank(self, *, batch_size: int, queue_size: int, view: PoolView | None = None) -> RankedQueue:
        """The queue of the next ``queue_size`` items, built as successive batches of ``batch_size``
        (see :mod:`labelwise.loop.ranking`), on ``view`` or on the current model's predictions."""
        view = view if view is not None else self.pool_view()
        return rank_pool(self, batch_size=batch_size, queue_size=queue_size, view=view)

    # -- measuring -----------------------------------------------------------------------
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class indices; without a model, the most frequent labeled class."""
        if self.model is not None:
            return self.model.predict(X)
        y = self.labels[self.labeled]
        majority = int(np.bincount(y, minlength=self.n_classes).argmax()) if y.size else 0
        return np.full(X.shape[0], majority, dtype=np.int64)

    def evaluate(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.X_test is not None and self.y_test is not None:
            predicted = self.predict(self.X_test)
            metrics["accuracy"] = float((predicted == self.y_test).mean())
            # Macro-F1 over the test split's classes: a class the model never predicts counts as 0, so a
            # rare class that has no label yet shows here while accuracy barely moves.
            metrics["macro_f1"] = float(
                f1_score(self.y_test, predicted, labels=np.unique(self.y_test), average="macro", zero_division=0)
            )
            metrics["classes_labeled"] = float(np.unique(self.labels[self.labeled]).size)
        if self.estimate_accuracy:
            metrics.update(self.cross_validated_accuracy())
        metrics.update(self.audit_accuracy())
        return metrics

    def audit_accuracy(self) -> dict[str, float]:
        """The audit estimate as the product shows it when this model appears: the trend of the
        audit labels served by earlier models, read at this model's label count; empty while too few."""
        if not self._audit:
            return {}
        served, predicted, true = (np.array(column) for column in zip(*self._audit, strict=True))
        estimate = accuracy_estimate(served, predicted, true, self.n_labeled)
        if not estimate.measured:
            return {}
        return {"audit_accuracy": estimate.value, "audit_accuracy_low": estimate.low,
                "audit_accuracy_high": estimate.high, "audit_n": float(estimate.n)}  # fmt: skip

    def cross_validated_accuracy(self, folds: int = 5) -> dict[str, float]:
        """Accuracy estimated on the labels alone: mean and sd over stratified folds.

        Only classes with at least two labels can be held out and still trained on, so the
        estimate covers those classes (and says NaN below two of them).
        """
        y_all = self.labels[self.labeled]
        counts = np.bincount(y_all, minlength=self.n_classes)
        keep = counts[y_all] >= 2
        y, X = y_all[keep], self.X[self.labeled][keep]
        evaluable = counts[counts >= 2]
        if evaluable.size < 2:
            return {"cv_accuracy": float("nan"), "cv_accuracy_sd": float("nan")}
        if is_semi_supervised(self.head):
            model = self.model.members_[0] if isinstance(self.model, BootstrapCommittee) else self.model
            correct = getattr(model, "held_out_correct_", None)
            if correct is None:
                # The pool stays in (unlabeled) while a fold's labels are held out, as at serving time.
                pool_labels = np.where(self.labeled, self.labels, -1)
                pool_labels[np.flatnonzero(self.labeled)[~keep]] = -1
                # auto that chose without cross-validating (one candidate left, e.g. above its labels per
                # class): estimate the head it serves. Auto refitted per fold falls back under that bound
                # and cross-validates every candidate inside each fold, a nested cross-validation that
                # took 100 s of a 100k retrain (label spreading's graph searched per fold).
                chosen = getattr(model, "head_", None)
                head = self.head if chosen is None else clone(chosen)
                correct = held_out_correct(head, self.X, pool_labels, folds, self.seed)
            # else auto's own cross-validation of the head it chose (no second, nested one)
            # The sd of a fold's accuracy, from the per-label outcomes (folds hold n / folds labels each).
            sd = float(correct.std() / np.sqrt(max(1.0, correct.size / folds)))
            return {"cv_accuracy": float(correct.mean()), "cv_accuracy_sd": sd}
        cv = StratifiedKFold(n_splits=min(folds, int(evaluable.min())), shuffle=True, random_state=self.seed)
        scores = cross_val_score(clone(self.head), X, y, cv=cv)
        return {"cv_accuracy": float(scores.mean()), "cv_accuracy_sd": float(scores.std())}

    def record(self, view: PoolView | None = None) -> RoundRecord:
        """Append the current model's record to the history."""
        stop_predictions = pool_uncertainty = None
        if self.model is not None:
            view = view if view is not None else self.pool_view()
            stop_predictions = view.probs[self.stop_set].argmax(axis=1)
            unlabeled = ~self.labeled
            if unlabeled.any():
                pool_uncertainty = float(least_confidence(view.probs[unlabeled]).mean())
        entry = RoundRecord(
            round=self._round,
            n_labeled=self.n_labeled,
            strategy=self.last_strategy,
            metrics=self.evaluate(),
            selected=self.last_selected,
            stop_predictions=stop_predictions,
            pool_uncertainty=pool_uncertainty,
        )
        self.history.append(entry)
        return entry

    # -- the loop ------------------------------------------------------------------------
    def start(self) -> PoolView:
        """Train on the labels given so far and record round 0."""
        self.fit()
        view = self.pool_view()
        self.record(view)
        return view

    def step(self, oracle: Oracle, n: int, view: PoolView | None = None) -> PoolView:
        """One round: query ``n`` items, label them with ``oracle``, retrain, record."""
        view = view if view is not None else self.pool_view()
        queue = self.rank(batch_size=n, queue_size=n, view=view)
        picked, is_audit = queue.indices, np.array([p.audit for p in queue.picks], dtype=bool)
        labels = np.asarray(oracle(picked))
        if view.probs is not None:  # scored by the serving model, before its label is known
            predicted = view.probs[picked[is_audit]].argmax(axis=1)
            self._audit += [(self.n_labeled, int(p), int(t)) for p, t in zip(predicted, labels[is_audit], strict=True)]
        self.teach(picked, labels)
        self._round += 1
        self.fit()
        view = self.pool_view()
        self.record(view)
        return view

    def run(self, oracle: Oracle, batch_size: int, stop: StoppingCriterion) -> StopDecision:
        """Train, record, then query-label-train rounds until ``stop`` is met or the pool is empty.

        oracle: maps an index array to the true class indices (a person, or known labels).
        """
        view = self.start()
        while True:
            decision = stop.check(self.history)
            if decision.met:
                return decision
            if self.labeled.all():
                return StopDecision(True, "the pool is fully labeled")
            left = stop.labels_left(self.history)
            view = self.step(oracle, batch_size if left is None else min(batch_size, left), view)
