"""Is the audit estimate biased, or was one simulation's audit sample unlucky? (issue 19)

Reads the ``curves.csv`` of a ``labelwise simulate`` run (each round: labels, test accuracy and the
audit estimate the product would have shown), or the rows of ``bench_honest.py`` (each model version
of the demo through the real server: labels, true accuracy on the unlabeled pool, the shown
estimate), and separates two things that its single audit sample mixes up:

- realized: the estimate against the test accuracy, as the run drew its audit labels;
- redrawn: the same learning curves (each stream's test accuracy per round, i.e. per model
  version), with the audit labels drawn again ``--redraws`` times, each right with the test
  accuracy of the version that served it. Over many draws this is the estimator's own bias and
  coverage on these curves (trend model, window fallback), free of the luck of one sample; the
  spread of the mean bias across draws says how far one run's figure may lie from it by chance.

The schedule is the simulator's: the model of round ``j`` (trained on ``n_j > 0`` labels) serves the
next batch, of which ``audit_count(audit_fraction, batch)`` picks are audit picks; the estimate shown
at round ``r`` rests on the audit labels served by rounds before ``r``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from labelwise.loop.audit import (
    Z95,
    AccuracyEstimate,
    _learning_curve_x,
    _logistic_fit,
    accuracy_estimate,
    audit_count,
    audit_estimate,
)


def falling_variant(kind: str):
    """The product's estimator (``window``), or one that treats a falling trend differently, for
    comparison only: ``keep`` reads the falling fit anyway; ``pooled`` uses every audit label."""
    if kind == "window":
        return accuracy_estimate

    def estimate(served, predicted, true, newest, **_) -> AccuracyEstimate:
        correct = (np.asarray(predicted) == np.asarray(true)).astype(float)
        x = _learning_curve_x(served)
        fit = None
        if correct.size >= 10 and 0 < correct.sum() < correct.size and np.unique(x).size >= 2:
            fit = _logistic_fit(x, correct)
        if fit is None or fit[0][1] >= 0:
            return accuracy_estimate(served, predicted, true, newest)
        if kind == "pooled":
            return audit_estimate(predicted, true)
        coef, cov = fit
        at = np.array([1.0, float(_learning_curve_x(newest))])
        logit, se = float(at @ coef), float(np.sqrt(max(at @ cov @ at, 0.0)))
        value, low, high = (float(1 / (1 + np.exp(-t))) for t in (logit, logit - Z95 * se, logit + Z95 * se))
        return AccuracyEstimate(value, low, high, int(correct.size), (), "falling trend kept")

    return estimate


def read_streams(path: Path) -> dict[tuple[str, str], list[dict]]:
    """Rows of ``curves.csv`` per (strategy, seed), in round order."""
    streams: dict[tuple[str, str], list[dict]] = defaultdict(list)
    with path.open() as file:
        for row in csv.DictReader(file):
            streams[(row["strategy"], row["seed"])].append(row)
    return {key: sorted(rows, key=lambda r: int(r["round"])) for key, rows in streams.items()}


def read_honest_rows(folder: Path) -> dict[tuple[str, str], list[dict]]:
    """The rows of ``bench_honest.py`` (``rows-run*.json``) as streams of the same shape: one per run,
    a round per model version, the truth the version's accuracy on the still-unlabeled pool."""
    streams = {}
    for path in sorted(folder.glob("rows-run*.json")):
        rows = json.loads(path.read_text())
        streams[("demo", str(rows[0]["run"]))] = [
            {"round": k, "n_labeled": r["labels"], "accuracy": r["true"], "audit_accuracy": r["shown"] or "",
             "audit_low": r["low"], "audit_high": r["high"]}
            for k, r in enumerate(rows)
        ]  # fmt: skip
    return streams


def stream_rounds(rows: list[dict], per_batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels per round, test accuracy per round, and per audit label the serving round."""
    n = np.array([int(r["n_labeled"]) for r in rows])
    accuracy = np.array([float(r["accuracy"]) for r in rows])
    serving = np.flatnonzero(n[:-1] > 0)  # a round without labels has no model: nothing to audit
    served_round = np.repeat(serving, per_batch)
    return n, accuracy, served_round


def redraw_stream(
    n: np.ndarray, accuracy: np.ndarray, served_round: np.ndarray, per_batch: int, rng: np.random.Generator,
    min_audit: int, estimator=accuracy_estimate,
) -> list[tuple[float, float, float, float, bool]]:  # fmt: skip
    """One fresh audit sample for a stream: per round with an estimate and at least ``min_audit``
    audit labels, (estimate, low, high, truth, whether the trend was used)."""
    right = (rng.random(served_round.size) < accuracy[served_round]).astype(int)
    out = []
    for r in range(1, len(n)):
        k = int(np.sum(served_round < r))
        if k < min_audit:
            continue
        est = estimator(n[served_round[:k]], right[:k], np.ones(k, dtype=int), int(n[r]))
        if est.measured:
            out.append((est.value, est.low, est.high, accuracy[r], "trend" in est.reason))
    return out


def summarize(label: str, rows: list[tuple[float, float, float, float, bool]]) -> str:
    a = np.array(rows, dtype=float).reshape(-1, 5)
    if not len(a):
        return f"{label}: no rounds"
    inside = np.mean((a[:, 1] <= a[:, 3]) & (a[:, 3] <= a[:, 2]))
    over = np.mean(a[:, 1] > a[:, 3])
    return (f"{label}: {len(a)} rounds, coverage {100 * inside:.1f}%, mean bias {100 * np.mean(a[:, 0] - a[:, 3]):+.2f}"
            f" points, lower end above the truth {100 * over:.1f}%")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("curves", type=Path, help="curves.csv of labelwise simulate, or bench_honest.py's --out")
    parser.add_argument("--batch", type=int, default=10, help="the simulation's --batch")
    parser.add_argument("--audit-fraction", type=float, default=0.05)
    parser.add_argument("--min-audit", type=int, default=30)
    parser.add_argument("--redraws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--falling", choices=["window", "keep", "pooled"], default="window",
                        help="on a falling trend: the product's window, keep the fit, or pool all labels")  # fmt: skip
    args = parser.parse_args()
    per_batch = audit_count(args.audit_fraction, args.batch)
    streams = read_honest_rows(args.curves) if args.curves.is_dir() else read_streams(args.curves)
    realized = []
    for rows in streams.values():
        served_round = stream_rounds(rows, per_batch)[2]
        for r, row in enumerate(rows):
            if row["audit_accuracy"] and np.sum(served_round < r) >= args.min_audit:
                realized.append((float(row["audit_accuracy"]), float(row["audit_low"]), float(row["audit_high"]),
                                 float(row["accuracy"]), True))  # fmt: skip
    print(f"{args.curves}: {len(streams)} streams, {per_batch} audit label(s) per batch of {args.batch}")
    print(summarize(f"realized, after {args.min_audit} audit labels", realized))
    rng = np.random.default_rng(args.seed)
    pooled, per_draw_bias, trend, window = [], [], [], []
    for _ in range(args.redraws):
        draw = []
        for rows in streams.values():
            n, accuracy, served_round = stream_rounds(rows, per_batch)
            draw += redraw_stream(n, accuracy, served_round, per_batch, rng, args.min_audit,
                                  falling_variant(args.falling))  # fmt: skip
        pooled += draw
        trend += [d for d in draw if d[4]]
        window += [d for d in draw if not d[4]]
        per_draw_bias.append(np.mean([d[0] - d[3] for d in draw]) if draw else np.nan)
    print(summarize(f"redrawn x{args.redraws}, after {args.min_audit} audit labels", pooled))
    print(summarize("  of which the trend fit", trend))
    print(summarize("  of which the window fallback", window))
    q = np.nanpercentile(per_draw_bias, [5, 50, 95])
    print(f"mean bias of one draw (all streams, as one simulation reports it): median {100 * q[1]:+.2f}, "
          f"5%-95% {100 * q[0]:+.2f} to {100 * q[2]:+.2f} points")  # fmt: skip


if __name__ == "__main__":
    main()
