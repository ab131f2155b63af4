"""Label efficiency: every strategy against random at budgets from 10 to 2,000 labels.

Protocol (issue "Beat random sampling at every budget"): start from 0 labels where the strategy
allows it (otherwise from a random 10), label in steps of at most --step up to each budget, 5 seeds,
the default head. Fashion-MNIST on real embeddings, plus the toy set and digits. Prints a table of
mean accuracy ± sd per strategy per budget, and for each strategy the labels it needs to reach
random's accuracy at 1,000 and at 2,000 labels; writes summary.json, table.md and curves.png.
The same runs are reachable as `labelwise simulate --dataset D --budgets 10,20,...`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from labelwise.loop import plots, report
from labelwise.loop.datasets import load_dataset
from labelwise.loop.simulate import simulate

ALL = "random,margin,entropy,least-confidence,variance,bald,typiclust,probcover,kcenter,badge,cluster-margin,auto"
BUDGETS = {
    "fashion-mnist": [10, 20, 50, 100, 200, 500, 1000, 2000],
    "digits": [10, 20, 50, 100, 200, 500],
    "toy": [4, 8, 12, 20, 28],
}


def labels_to_reach(curve: dict, target: float) -> int | None:
    return next((n for n, m in zip(curve["n_labeled"], curve["mean"], strict=True) if m >= target), None)


def table(summary: dict, budgets: list[int], targets: list[int]) -> str:
    curves = summary["strategies"]
    random_curve = curves.get("random")
    head = ["strategy", *(str(b) for b in budgets), *(f"labels to random@{t}" for t in targets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, curve in curves.items():
        at = dict(zip(curve["n_labeled"], zip(curve["mean"], curve["sd"], strict=True), strict=True))
        cells = [name]
        for b in budgets:
            mean, sd = at.get(b, (float("nan"), float("nan")))
            cells.append("—" if np.isnan(mean) else f"{mean:.3f} ± {sd:.3f}")
        for t in targets:
            if random_curve is None or t not in random_curve["n_labeled"]:
                cells.append("")
                continue
            target = random_curve["mean"][random_curve["n_labeled"].index(t)]
            reached = labels_to_reach(curve, target)
            cells.append("never" if reached is None else str(reached))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="fashion-mnist,digits,toy")
    parser.add_argument("--strategies", default=ALL)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--step", type=int, default=250, help="largest batch between two budgets")
    parser.add_argument("--max-budget", type=int, default=None, help="cut the budgets (a quick run)")
    parser.add_argument("--audit-fraction", type=float, default=0.05, help="random audit picks per batch, as served")
    parser.add_argument("--out", type=Path, default=Path("bench-out/label-efficiency"))
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    for name in args.datasets.split(","):
        budgets = [b for b in BUDGETS[name] if args.max_budget is None or b <= args.max_budget]
        data = load_dataset(name)
        start = time.perf_counter()
        points = simulate(data, strategies, args.seeds, 0, min(args.step, budgets[-1]), budgets[-1],
                          checkpoints=budgets, audit_fraction=args.audit_fraction)  # fmt: skip
        summary = report.summarize(points, budgets[-1])
        summary.update(dataset=name, budgets=budgets, seeds=args.seeds, step=args.step)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        report.write_curves_csv(points, out / "curves.csv")
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        plots.plot_curves(summary, out / "curves.png", f"{name}: {args.seeds} seeds", log_x=True)
        targets = [t for t in (1000, 2000) if t in budgets] or [budgets[-1]]
        text = table(summary, budgets, targets)
        (out / "table.md").write_text(text + "\n")
        print(f"\n{name}: mean test accuracy ± sd over {args.seeds} seeds ({time.perf_counter() - start:.0f} s)")
        print(text)
        best = np.max([[dict(zip(c["n_labeled"], c["mean"], strict=True)).get(b, 0) for b in budgets]
                       for s, c in summary["strategies"].items() if s != "auto"], axis=0)  # fmt: skip
        if "auto" in summary["strategies"] and "random" in summary["strategies"]:
            auto = dict(zip(summary["strategies"]["auto"]["n_labeled"], summary["strategies"]["auto"]["mean"],
                            strict=True))  # fmt: skip
            rnd = dict(zip(summary["strategies"]["random"]["n_labeled"], summary["strategies"]["random"]["mean"],
                           strict=True))  # fmt: skip
            print(
                "auto minus best single strategy (points): "
                + ", ".join(f"{b}: {100 * (auto[b] - m):+.1f}" for b, m in zip(budgets, best, strict=True))
            )
            print("auto minus random (points): " + ", ".join(f"{b}: {100 * (auto[b] - rnd[b]):+.1f}" for b in budgets))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
