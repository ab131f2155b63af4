"""The simulator's orchestration, shared by ``labelwise simulate`` and scripts: the data loaded, the
run's budget and batch resolved from the data set's defaults, the curves run and summarized, the outputs
written, the toy set's boundary plot. Multi-label runs have their twin in
:mod:`labelwise.loop.multilabel_experiment`; both return a :class:`SimulationOutcome`.

The CLI only parses options and prints; what a simulation means lives here, beside the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labelwise.errors import LabelwiseError
from labelwise.loop import plots, report
from labelwise.loop.datasets import Dataset, image_folder, load_dataset
from labelwise.loop.simulate import CurvePoint, run_one, simulate


@dataclass(frozen=True)
class SimulationPlan:
    """What one simulation will do: ``initial`` random labels, then batches of ``batch`` up to
    ``budget`` labels (``checkpoints``: the budgets at which the loop also records, or None)."""

    initial: int
    batch: int
    budget: int
    checkpoints: list[int] | None
    warning: str | None  # said to the user, e.g. a budget larger than the pool


@dataclass(frozen=True)
class SimulationOutcome:
    """What a finished simulation shows the user: a table (``title``, the ``metric`` column's name,
    ``rows`` of strategy, metric ± sd, points over random, labels to match random, labels saved) and
    the files ``written``."""

    title: str
    metric: str
    rows: list[list[str]]
    written: list[Path]


def check_boundary_plot(plot_boundary: bool, dataset: str, images: Path | None) -> None:
    """Refused before any work: the boundary plot draws the toy set's two dimensions only."""
    if plot_boundary and (images is not None or dataset != "toy"):
        raise LabelwiseError("--plot-boundary draws 2-D boundaries and needs --dataset toy")


def plan_simulation(
    data: Dataset,
    *,
    initial: int | None = None,
    batch: int | None = None,
    budget: int | None = None,
    checkpoints: list[int] | None = None,
) -> SimulationPlan:
    """The data set's defaults where the user gave none. With ``checkpoints`` the last one is the
    budget and the loop starts from no labels unless ``initial`` says otherwise."""
    checkpoints = sorted(checkpoints) if checkpoints else None
    if checkpoints:
        budget = checkpoints[-1]
        initial = 0 if initial is None else initial
    initial = data.initial if initial is None else initial
    batch = data.batch if batch is None else batch
    budget = data.budget if budget is None else budget
    pool = data.X_pool.shape[0]
    warning = None
    if budget > pool:
        # Past the pool every image is labeled: no strategy can choose, so no saving is measurable.
        warning = f"--budget {budget} is more than the {pool} images of the pool; using {pool}"
        budget = pool
        if checkpoints:
            checkpoints = sorted({min(c, pool) for c in checkpoints})
    return SimulationPlan(initial=initial, batch=batch, budget=budget, checkpoints=checkpoints, warning=warning)


@dataclass(frozen=True)
class DataRequest:
    """Where a simulation's data comes from, as the user asked: a built-in set by name (``dataset``),
    or a folder of ``images`` (with a ``labels`` CSV when multi-label), ``test_fraction`` of it held
    out, embedded by ``backbone``."""

    dataset: str
    images: Path | None = None
    labels: Path | None = None
    test_fraction: float = 0.2
    backbone: str = "lite0"


ProgressHook = Callable[[int], None] | None  # told the number of images to embed, then each step done


def load_data(request: DataRequest, on_total: ProgressHook = None, on_progress: ProgressHook = None) -> Dataset:
    """The single-label data of a run: a user's ImageFolder or a built-in set (only the backbone-embedded
    ones report progress: the others load in seconds)."""
    if request.labels is not None:
        raise LabelwiseError("--labels goes with --images FOLDER --multi-label")
    hooks = {"on_total": on_total, "on_progress": on_progress}
    if request.images is not None:
        return image_folder(request.images, request.test_fraction, request.backbone, **hooks)
    if request.dataset == "fashion-mnist":
        return load_dataset(request.dataset, backbone=request.backbone, **hooks)
    return load_dataset(request.dataset)


def run_simulation(
    data: Dataset,
    name: str,
    strategies: Sequence[str],
    seeds: int,
    plan: SimulationPlan,
    out: Path,
    *,
    workers: int | None = None,
    on_done: Callable[[list[CurvePoint]], None] | None = None,
    audit_fraction: float = 0.05,
    heads: Sequence[str] = ("logistic",),
) -> SimulationOutcome:
    """Accuracy curves of ``strategies`` x ``heads`` x ``seeds`` under ``plan``, summarized and written
    to ``out`` (``name``: the data set as the user called it, for the summary and titles)."""
    points = simulate(
        data, strategies, seeds, plan.initial, plan.batch, plan.budget,
        workers=workers, checkpoints=plan.checkpoints, on_done=on_done, audit_fraction=audit_fraction, heads=heads,
    )  # fmt: skip
    summary = report.summarize(points, plan.budget)
    summary.update(dataset=name, initial=plan.initial, batch=plan.batch, seeds=seeds)
    written = write_outputs(points, summary, out, f"{name}: {seeds} seeds, batch {plan.batch}")
    title = f"{name}: accuracy at {plan.budget} labels (mean ± sd over {seeds} seeds)"
    return SimulationOutcome(title, "accuracy", report.summary_rows(summary), written)


def write_outputs(points: list[CurvePoint], summary: dict, out: Path, title: str) -> list[Path]:
    """curves.csv (every round), summary.json and curves.png in ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "curves.csv", out / "summary.json", out / "curves.png"]
    report.write_curves_csv(points, written[0])
    report.write_summary(summary, written[1])
    plots.plot_curves(summary, written[2], title)
    return written


def write_boundary_plot(data: Dataset, plan: SimulationPlan, path: Path) -> Path:
    """Random's and margin's decision boundaries on the toy set, seed 0, at the plan's budget."""
    loops = {name: run_one(data, name, 0, plan.initial, plan.batch, plan.budget)[1] for name in ("random", "margin")}
    plots.plot_boundary(data, loops, path)
    return path
