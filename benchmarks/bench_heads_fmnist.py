"""head=auto against the logistic head on Fashion-MNIST backbone embeddings (issue 14, goal 2).

``labelwise.loop.datasets.fashion_mnist("lite0", 256)``: the lite0 backbone's embeddings of the 70k
pictures, PCA-256 fitted on the 60k pool. ``--pool N`` keeps a seeded random N of the pool (the
official 10k test split is always the test set); the label-efficiency protocol of
``label_efficiency.py`` (budgets 10 to 2,000, steps of at most 250, audit picks as served), its
tables and its per-budget head gaps. Writes summary.json, table.md and curves.png under ``--out``.

    python benchmarks/bench_heads_fmnist.py --pool 10000 --strategies random,auto --seeds 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from label_efficiency import LONG, print_head_gaps, table

from labelwise.loop import plots, report
from labelwise.loop.datasets import Dataset, fashion_mnist
from labelwise.loop.simulate import simulate


def lite0_pool(pool: int | None) -> Dataset:
    data = fashion_mnist("lite0", 256)
    if pool is None or pool >= len(data.y_pool):
        return data
    pick = np.sort(np.random.default_rng(0).choice(len(data.y_pool), pool, replace=False))
    return Dataset(f"fashion-mnist-lite0-{pool // 1000}k", data.X_pool[pick], data.y_pool[pick], data.X_test,
                   data.y_test, data.class_names, initial=10, batch=10)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=None, help="a seeded random subset of the 60k pool")
    parser.add_argument("--strategies", default="random,auto")
    parser.add_argument("--heads", default="logistic,auto")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-budget", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-out/heads-fmnist"))
    args = parser.parse_args()
    data = lite0_pool(args.pool)
    budgets = [b for b in LONG if args.max_budget is None or b <= args.max_budget]
    strategies, heads = args.strategies.split(","), args.heads.split(",")
    start = time.perf_counter()
    points = simulate(data, strategies, args.seeds, 0, min(250, budgets[-1]), budgets[-1], checkpoints=budgets,
                      heads=heads)  # fmt: skip
    summary = report.summarize(points, budgets[-1])
    summary.update(dataset=data.name, budgets=budgets, seeds=args.seeds)
    out = args.out / data.name
    out.mkdir(parents=True, exist_ok=True)
    text = table(summary, budgets, [budgets[-1]])
    print(f"\n{data.name} ({len(data.y_pool):,} pool): mean test accuracy ± sd over {args.seeds} seeds "
          f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    print(text)
    print_head_gaps(summary, strategies, heads, budgets)
    plots.plot_curves(summary, out / "curves.png", f"{data.name}: {args.seeds} seeds", log_x=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
