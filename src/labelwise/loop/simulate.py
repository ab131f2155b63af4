"""The simulator: replay the loop with a dataset's true labels as the oracle.

Every strategy starts a given seed from the same random initial labels, so curves differ only by
what the strategies chose. Seeds run in parallel processes, one BLAS thread each.

Like the product, each batch holds ``audit_fraction`` random audit picks (default 0.05, at least one
per batch; 0 turns them off), and each round records the audit estimate the dashboard would show
beside the accuracy on the test split, so the estimate's calibration is visible.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from labelwise.learn.choose import head_names, make_head
from labelwise.loop.active_loop import ActiveLoop
from labelwise.loop.datasets import Dataset
from labelwise.strategies import get_strategy
from labelwise.strategies.registry import StrategyKindError


@dataclass(frozen=True)
class CurvePoint:
    dataset: str
    strategy: str
    seed: int
    round: int
    n_labeled: int
    accuracy: float
    # The audit estimate the product would have shown for this model (None while too few).
    audit_accuracy: float | None = None
    audit_low: float | None = None
    audit_high: float | None = None
    audit_n: int = 0
    head: str = "logistic"
    macro_f1: float | None = None
    classes_labeled: int = 0  # distinct classes among the labels so far
    chooser: str = ""  # what chose the batch that led to this round, e.g. "auto: typiclust"

    @property
    def curve(self) -> str:
        """The curve's name: the strategy, with ``+head`` when the head is not the logistic one."""
        return self.strategy if self.head == "logistic" else f"{self.strategy}+{self.head}"


def initial_indices(dataset: Dataset, n: int, seed: int) -> np.ndarray:
    """The random initial labels of a seed, shared by every strategy."""
    rng = np.random.default_rng(10_000 + seed)
    return rng.choice(dataset.X_pool.shape[0], size=min(n, dataset.X_pool.shape[0]), replace=False)


def label_targets(start: int, budget: int, batch: int, checkpoints: list[int] | None = None) -> list[int]:
    """The n_labeled after each round: steps of at most ``batch``, landing on every checkpoint."""
    stops = sorted({c for c in (checkpoints or []) if start < c <= budget} | {budget})
    targets, n = [], start
    for stop in stops:
        while n < stop:
            n = min(n + batch, stop)
            targets.append(n)
    return targets


def start_size(strategy: str, initial: int) -> int:
    """Strategies that need a model start from a random 10 when asked to start from nothing."""
    needs_model = bool(get_strategy(strategy).needs & {"probs", "samples"})
    return max(initial, 10) if needs_model and initial == 0 else initial


def run_one(
    dataset: Dataset,
    strategy: str,
    seed: int,
    initial: int,
    batch: int,
    budget: int,
    checkpoints: list[int] | None = None,
    *,
    candidates: int | None = None,
    explore: float = 0.0,
    audit_fraction: float = 0.05,
    head: str = "logistic",
) -> tuple[list[CurvePoint], ActiveLoop]:
    """One learning curve: initial random labels, then batches chosen by ``strategy`` to ``budget``.

    candidates, explore, head: the server's settings of the same names.
    """
    loop = ActiveLoop(
        dataset.X_pool, dataset.n_classes, strategy=strategy, candidates=candidates, explore=explore,
        head=make_head(head, list(range(dataset.n_classes)), random_state=seed, strategy=strategy),
        X_test=dataset.X_test, y_test=dataset.y_test, estimate_accuracy=False, audit_fraction=audit_fraction,
        seed=seed,
    )  # fmt: skip
    first = initial_indices(dataset, start_size(strategy, initial), seed)
    loop.teach(first, dataset.y_pool[first])
    view = loop.start()
    for target in label_targets(loop.n_labeled, budget, batch, checkpoints):
        if loop.labeled.all():
            break
        view = loop.step(lambda idx: dataset.y_pool[idx], target - loop.n_labeled, view)
    points = [
        CurvePoint(dataset.name, strategy, seed, r.round, r.n_labeled, r.metrics["accuracy"],
                   r.metrics.get("audit_accuracy"), r.metrics.get("audit_accuracy_low"),
                   r.metrics.get("audit_accuracy_high"), int(r.metrics.get("audit_n", 0)), head,
                   r.metrics.get("macro_f1"), int(r.metrics.get("classes_labeled", 0)), r.strategy or "")
        for r in loop.history
    ]  # fmt: skip
    return points, loop


_WORKER: tuple | None = None  # (dataset, run) in each worker process, sent once rather than per job


def _init_worker(dataset, run: Callable) -> None:
    global _WORKER
    _WORKER = (dataset, run)


def _run_job(job: tuple) -> list:
    assert _WORKER is not None
    dataset, run = _WORKER
    with threadpool_limits(1):
        return run(dataset, job)


def run_curves(dataset, jobs: list[tuple], run: Callable[[object, tuple], list], *, workers: int | None,
               on_done: Callable[[list], None] | None) -> list:  # fmt: skip
    """``run(dataset, job)`` for every job (a module-level function: it goes to other processes),
    in parallel processes with one BLAS thread each; the points of all jobs, in job order.
    ``on_done`` is called as each job's points arrive."""

    def collect(outputs: Iterable[list]) -> list:
        results: list = []
        for points in outputs:
            results.extend(points)
            if on_done:
                on_done(points)
        return results

    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        _init_worker(dataset, run)
        return collect(map(_run_job, jobs))
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(dataset, run)) as pool:
        return collect(pool.map(_run_job, jobs))


def _curve(dataset: Dataset, job: tuple) -> list[CurvePoint]:
    *args, audit_fraction, head = job
    return run_one(dataset, *args, audit_fraction=audit_fraction, head=head)[0]


def simulate(
    dataset: Dataset,
    strategies: Iterable[str],
    seeds: int,
    initial: int,
    batch: int,
    budget: int,
    *,
    workers: int | None = None,
    checkpoints: list[int] | None = None,
    on_done: Callable[[list[CurvePoint]], None] | None = None,
    audit_fraction: float = 0.05,
    heads: Iterable[str] = ("logistic",),
) -> list[CurvePoint]:
    """All learning curves, strategies x heads x seeds; ``on_done`` is called as each curve finishes."""
    if getattr(dataset, "Y_pool", None) is not None:  # a MultiLabelDataset (loop.multilabel imports this module)
        raise StrategyKindError(
            f"dataset {dataset.name!r} is multi-label: simulate it with labelwise.loop.multilabel.simulate_multilabel"
        )
    strategies = [get_strategy(name).name for name in strategies]  # fail early on a typo
    heads = list(heads)
    unknown = [h for h in heads if h not in head_names()]
    if unknown or not heads:
        raise ValueError(f"head: unknown {unknown or heads}; known: {', '.join(head_names())}")
    if budget < initial:
        raise ValueError(f"budget: {budget} is below the {initial} initial labels")
    if not 0.0 <= audit_fraction <= 1.0:  # also refuses NaN
        raise ValueError(f"audit_fraction: must be in [0, 1], got {audit_fraction}")
    jobs = [(s, seed, initial, batch, budget, checkpoints, audit_fraction, head)
            for seed in range(seeds) for s in strategies for head in heads]  # fmt: skip
    return run_curves(dataset, jobs, _curve, workers=workers, on_done=on_done)
