"""``labelwise simulate`` on multi-label data: which runs are multi-label, loading them, running the
curves, the summary, the outputs (curves.csv, summary.json, curves.png) and the terminal table's rows.

The same shape as the single-label run (:mod:`labelwise.loop.experiment`, :mod:`labelwise.loop.report`)
with macro-F1 in place of accuracy: a summary's ``mean``/``sd`` curves are macro-F1, and a strategy's
``labels_to_match_random`` is the first budget where its mean macro-F1 reaches random's at the end.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.loop import plots
from labelwise.loop.experiment import DataRequest, ProgressHook, SimulationOutcome, SimulationPlan
from labelwise.loop.multilabel import MultiLabelDataset, MultiLabelPoint, fashion_mnist_pairs, simulate_multilabel
from labelwise.loop.multilabel_folder import multilabel_image_folder
from labelwise.loop.report import BASELINE
from labelwise.strategies.multilabel import multilabel_strategy_names

# fmnist-pairs embeds its 15,000 pictures with the backbone (minutes, once: then cached);
# fmnist-pairs-pixels takes a PCA of the pixels (seconds), as fashion-mnist-pixels does for single-label.
MULTILABEL_DATASETS = ("fmnist-pairs", "fmnist-pairs-pixels")
CSV_COLUMNS = ["dataset", "strategy", "seed", "round", "n_labeled", "macro_f1"]


def is_multilabel(dataset: str, images: Path | None, multi_label: bool) -> bool:
    """Whether this run is multi-label: a multi-label data set, or ``--images`` with ``--multi-label``."""
    if multi_label and images is None and dataset not in MULTILABEL_DATASETS:
        raise LabelwiseError(
            f"--multi-label: dataset {dataset!r} is single-label; use --dataset "
            f"{' or '.join(MULTILABEL_DATASETS)}, or --images FOLDER --labels CSV"
        )
    return multi_label or (images is None and dataset in MULTILABEL_DATASETS)


def default_strategies() -> str:
    """Every multi-label strategy, random first: the comparison a user asks the simulator for."""
    return ",".join(multilabel_strategy_names())


def load_multilabel(
    request: DataRequest, on_total: ProgressHook = None, on_progress: ProgressHook = None
) -> MultiLabelDataset:
    """The multi-label data of a run: a user's folder with its labels CSV, or a built-in set."""
    hooks = {"on_total": on_total, "on_progress": on_progress}
    if request.images is not None:
        if request.labels is None:
            raise LabelwiseError("--images with --multi-label needs --labels CSV (path,labels with ;-joined classes)")
        return multilabel_image_folder(request.images, request.labels, request.test_fraction, request.backbone, **hooks)
    if request.labels is not None:
        raise LabelwiseError("--labels goes with --images FOLDER --multi-label")
    if request.dataset == "fmnist-pairs-pixels":
        return fashion_mnist_pairs(features="pixels")
    if on_total:  # the pairs are embedded in one go; the bar shows it as one step
        on_total(1)
    data = fashion_mnist_pairs(features=request.backbone)
    if on_progress:
        on_progress(1)
    return data


def run_multilabel(
    data: MultiLabelDataset,
    strategies: Sequence[str],
    seeds: int,
    plan: SimulationPlan,
    out: Path,
    *,
    workers: int | None = None,
    on_done: Callable[[list[MultiLabelPoint]], None] | None = None,
) -> SimulationOutcome:
    """Macro-F1 curves of ``strategies`` x ``seeds`` under ``plan``, summarized and written to ``out``:
    the single-label run's outputs and table with macro-F1 in place of accuracy."""
    points = simulate_multilabel(
        data, strategies, seeds, plan.initial, plan.batch, plan.budget, checkpoints=plan.checkpoints,
        workers=workers, on_done=on_done,
    )  # fmt: skip
    summary = summarize_multilabel(points, plan.budget)
    summary.update(dataset=data.name, features=data.extras.get("features"), initial=plan.initial,
                   batch=plan.batch, seeds=seeds)  # fmt: skip
    written = write_multilabel_outputs(
        points, summary, out, f"{data.name} (multi-label): {seeds} seeds, batch {plan.batch}"
    )
    title = f"{data.name}: macro-F1 at {summary['budget']} labels (mean ± sd over {seeds} seeds)"
    return SimulationOutcome(title, "macro-F1", multilabel_rows(summary), written)


def summarize_multilabel(points: list[MultiLabelPoint], budget: int) -> dict:
    """Mean macro-F1 curves and, per strategy, the labels it needs to reach random's final macro-F1
    (``savings = 1 - labels / budget reached``; random has none: it is the baseline)."""
    by: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        by[p.strategy][p.n_labeled].append(p.macro_f1)
    target, reached = None, budget
    if BASELINE in by:
        reached = max(by[BASELINE])
        target = float(np.mean(by[BASELINE][reached]))
    summary: dict = {"metric": "macro_f1", "budget": reached, "baseline": BASELINE,
                     "random_final_macro_f1": target, "strategies": {}}  # fmt: skip
    for strategy, by_n in by.items():
        ns = sorted(by_n)
        mean = [float(np.mean(by_n[n])) for n in ns]
        match = None
        if target is not None:
            match = (
                reached
                if strategy == BASELINE
                else next((n for n, m in zip(ns, mean, strict=True) if m >= target), None)
            )
        summary["strategies"][strategy] = {
            "n_labeled": ns, "mean": mean, "sd": [float(np.std(by_n[n])) for n in ns],
            "seeds": [len(by_n[n]) for n in ns],
            "final_macro_f1_mean": mean[-1], "final_macro_f1_sd": float(np.std(by_n[ns[-1]])),
            "labels_to_match_random": match,
            "savings": None if match is None or strategy == BASELINE else 1.0 - match / reached,
        }  # fmt: skip
    return summary


def multilabel_rows(summary: dict) -> list[list[str]]:
    """Table rows, best first: strategy, final macro-F1 ± sd, points over random, labels to match, saved."""
    base = summary["random_final_macro_f1"]
    rows = []
    for name, s in sorted(summary["strategies"].items(), key=lambda kv: -kv[1]["final_macro_f1_mean"]):
        match = s["labels_to_match_random"]
        rows.append([
            name, f"{s['final_macro_f1_mean']:.3f} ± {s['final_macro_f1_sd']:.3f}",
            "" if base is None else f"{100 * (s['final_macro_f1_mean'] - base):+.1f}",
            "never" if match is None else str(match),
            "" if s["savings"] is None else f"{100 * s['savings']:.0f}%",
        ])  # fmt: skip
    return rows


def write_multilabel_outputs(points: list[MultiLabelPoint], summary: dict, out: Path, title: str) -> list[Path]:
    """curves.csv (every round), summary.json and curves.png (macro-F1) in ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "curves.csv", out / "summary.json", out / "curves.png"]
    with open(written[0], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for point in sorted(points, key=lambda p: (p.dataset, p.strategy, p.seed, p.round)):
            writer.writerow(asdict(point))
    written[1].write_text(json.dumps(summary, indent=2) + "\n")
    plots.plot_curves(summary, written[2], title, ylabel="test macro-F1")
    return written
