"""Simulator outputs: curves.csv, summary.json, curves.png and a table for the terminal."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from labelwise.loop.simulate import CurvePoint

CSV_COLUMNS = ["dataset", "strategy", "seed", "round", "n_labeled", "accuracy",
               "audit_accuracy", "audit_low", "audit_high", "audit_n", "head",
               "macro_f1", "classes_labeled", "chooser"]  # fmt: skip
BASELINE = "random"


def write_curves_csv(points: list[CurvePoint], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for point in sorted(points, key=lambda p: (p.dataset, p.strategy, p.head, p.seed, p.round)):
            writer.writerow(asdict(point))


def mean_curves(points: list[CurvePoint]) -> dict[str, dict[str, list[float]]]:
    """Per curve (strategy, ``+head`` past the logistic one): n_labeled, mean and sd of accuracy over
    seeds, and the number of seeds."""
    by_strategy: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    f1: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        by_strategy[p.curve][p.n_labeled].append(p.accuracy)
        if p.macro_f1 is not None:
            f1[p.curve][p.n_labeled].append(p.macro_f1)
    curves = {}
    for strategy, by_n in by_strategy.items():
        ns = sorted(by_n)
        curves[strategy] = {
            "n_labeled": ns,
            "mean": [float(np.mean(by_n[n])) for n in ns],
            "sd": [float(np.std(by_n[n])) for n in ns],
            "seeds": [len(by_n[n]) for n in ns],
        }
        if f1[strategy]:
            curves[strategy]["macro_f1"] = [float(np.mean(f1[strategy][n])) if f1[strategy][n] else None for n in ns]
    return curves


def summarize(points: list[CurvePoint], budget: int) -> dict:
    """Mean curves plus, per strategy, the labels it needs to match random's final accuracy.

    ``labels_to_match_random``: the smallest n_labeled at which the strategy's mean accuracy
    reaches random's mean accuracy at the final budget (``None`` if never);
    ``savings = 1 - labels_to_match_random / reached``, where ``reached`` is the n_labeled random's
    curve actually ends at (a budget past the pool is never reached, so nothing is saved against it).
    Random itself has no saving: it is the baseline, not a competitor.
    """
    curves = mean_curves(points)
    target, reached = None, budget
    if BASELINE in curves:
        target = curves[BASELINE]["mean"][-1]
        reached = curves[BASELINE]["n_labeled"][-1]
    summary: dict = {"budget": reached, "baseline": BASELINE, "random_final_accuracy": target, "strategies": {}}
    for strategy, curve in curves.items():
        match = None
        if target is not None and strategy == BASELINE:
            match = reached  # by definition; its own noisy curve is no saving
        elif target is not None:
            match = next((n for n, m in zip(curve["n_labeled"], curve["mean"], strict=True) if m >= target), None)
        summary["strategies"][strategy] = {
            **curve,
            "final_accuracy_mean": curve["mean"][-1],
            "final_accuracy_sd": curve["sd"][-1],
            "labels_to_match_random": match,
            "savings": None if match is None or strategy == BASELINE else 1.0 - match / reached,
        }
    return summary


def labels_until_every_class(points: list[CurvePoint], n_classes: int) -> dict[str, list[int | None]]:
    """Per curve, per seed: the first n_labeled at which every one of ``n_classes`` classes has a label
    (``None`` if that never happened within the run). Rounds are recorded after each batch, so this is
    the end of the batch that brought the last class."""
    first: dict[str, dict[int, int | None]] = defaultdict(dict)
    for p in sorted(points, key=lambda p: (p.curve, p.seed, p.n_labeled)):
        seen = first[p.curve]
        if seen.get(p.seed) is None:
            seen[p.seed] = p.n_labeled if p.classes_labeled >= n_classes else None
    return {curve: [by_seed[s] for s in sorted(by_seed)] for curve, by_seed in first.items()}


def write_summary(summary: dict, path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n")


def summary_rows(summary: dict) -> list[list[str]]:
    """Table rows: strategy, final accuracy +- sd, gain over random, labels to match random, savings."""
    base = summary["random_final_accuracy"]
    rows = []
    for strategy, s in sorted(summary["strategies"].items(), key=lambda kv: -kv[1]["final_accuracy_mean"]):
        gain = "" if base is None else f"{100 * (s['final_accuracy_mean'] - base):+.1f}"
        match = s["labels_to_match_random"]
        rows.append(
            [
                strategy,
                f"{s['final_accuracy_mean']:.3f} ± {s['final_accuracy_sd']:.3f}",
                gain,
                "never" if match is None else str(match),
                "" if s["savings"] is None else f"{100 * s['savings']:.0f}%",
            ]
        )
    return rows
