"""Multi-label label efficiency: random against every multi-label strategy (issue 13).

Data (--dataset): fmnist-pairs, two Fashion-MNIST items side by side in one 56x28 picture, labeled
with their classes (one when both are the same), pool pairs of training images, test pairs of test
images; features (--features) the default backbone's embeddings (lite0, through the embedding cache:
about 3 minutes for the 15,000 pictures the first time on the 2-core machine, then a look-up) with a
PCA to 256, or a PCA of the pixels (pixels, 64). digits-pairs: the same with scikit-learn's 8x8
digits (8x16 pictures, raw pixels, budget 500): a second data set, so that no choice rests on one.
Head: one binary logistic head per class. Protocol: 20 random initial labels shared by every
strategy of a seed, batches of --batch up to the budget, macro-F1 on the test split at threshold
0.5 after every batch. Prints mean ± sd per budget and, per strategy, the labels it needs to reach
random's mean macro-F1 at the budget (target at 1,000: <= 700), with the first budget where every
seed's curve reaches its own random's figure (a check that the mean is not carried by one seed).
Writes table.md, bench.json (per-seed figures), and the simulator's curves.csv, summary.json and
curves.png to --out.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from labelwise.loop.multilabel import MultiLabelPoint, digits_pairs, fashion_mnist_pairs, simulate_multilabel
from labelwise.loop.multilabel_experiment import summarize_multilabel, write_multilabel_outputs
from labelwise.strategies.multilabel import multilabel_strategy_names

STRATEGIES = ",".join(multilabel_strategy_names())
SHOWN = [20, 50, 100, 200, 300, 400, 500, 600, 700, 800, 1000]


def curves(points: list[MultiLabelPoint]) -> dict[str, dict[int, list[float]]]:
    """strategy -> n_labeled -> macro-F1 per seed (in seed order)."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in sorted(points, key=lambda p: p.seed):
        out[p.strategy][p.n_labeled].append(p.macro_f1)
    return out


def labels_to_reach(by_n: dict[int, list[float]], target: float) -> int | None:
    """The smallest n_labeled whose mean macro-F1 reaches ``target``."""
    return next((n for n in sorted(by_n) if np.mean(by_n[n]) >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default=STRATEGIES)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--dataset", choices=("fmnist-pairs", "digits-pairs"), default="fmnist-pairs")
    parser.add_argument("--budget", type=int, default=None, help="labels at the end (the set's default: 1000, 500)")
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--pool", type=int, default=10_000, help="fmnist-pairs only")
    parser.add_argument("--test", type=int, default=5_000, help="fmnist-pairs only")
    parser.add_argument("--features", default="lite0", help="a backbone (embedded via the cache) or pixels")
    parser.add_argument(
        "--pca", type=int, default=None, help="PCA dimensions (default 256 on a backbone, 64 on pixels)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-out/multilabel"))
    args = parser.parse_args()
    start = time.perf_counter()
    if args.dataset == "digits-pairs":
        data = digits_pairs()
    else:
        data = fashion_mnist_pairs(args.pool, args.test, args.pca, features=args.features)
    args.budget = args.budget or data.budget
    cardinality = data.Y_pool.sum(axis=1)
    ones, twos = np.mean(cardinality == 1), np.mean(cardinality == 2)
    print(f"{data.name}: pool {len(data.Y_pool)}, test {len(data.Y_test)}, {data.extras['features']}; "
          f"classes per picture: 1 in {ones:.1%}, 2 in {twos:.1%}")  # fmt: skip
    shown = [b for b in SHOWN if args.initial <= b <= args.budget]
    points = simulate_multilabel(data, args.strategies.split(","), args.seeds, args.initial, args.batch,
                                 args.budget, checkpoints=shown, workers=args.workers)  # fmt: skip
    elapsed = time.perf_counter() - start
    by = curves(points)
    random_curve = by.get("random")
    target = float(np.mean(random_curve[args.budget])) if random_curve else None
    head = ["strategy", *map(str, shown), f"labels to random@{args.budget}", "every seed by"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, by_n in by.items():
        cells = [name, *(f"{np.mean(by_n[b]):.3f} ± {np.std(by_n[b]):.3f}" for b in shown)]
        if target is None or name == "random":
            cells += ["", ""]
        else:
            reached = labels_to_reach(by_n, target)
            own = np.array(random_curve[args.budget])  # each seed against its own random curve
            every = next((n for n in sorted(by_n) if np.all(np.array(by_n[n]) >= own)), None)
            cells += ["never" if reached is None else str(reached), "never" if every is None else str(every)]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(f"\nmean macro-F1 ± sd over {args.seeds} seeds (seeds 0..{args.seeds - 1}), batch {args.batch}, "
          f"{elapsed:.0f} s")  # fmt: skip
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    summary = {name: {str(n): v for n, v in sorted(by_n.items())} for name, by_n in by.items()}
    record = {"args": vars(args) | {"out": str(args.out)}, "random_target": target, "macro_f1": summary}
    (args.out / "bench.json").write_text(json.dumps(record, indent=1))
    summary = summarize_multilabel(points, args.budget) | {"features": data.extras["features"], "seeds": args.seeds}
    title = f"{data.name} ({data.extras['features']}): {args.seeds} seeds, batch {args.batch}"
    write_multilabel_outputs(points, summary, args.out, title)


if __name__ == "__main__":
    main()
