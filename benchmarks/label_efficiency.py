"""Label efficiency: every strategy against random at budgets from 10 to 2,000 labels.

Protocol (issue "Beat random sampling at every budget"): start from 0 labels where the strategy
allows it (otherwise from a random 10), label in steps of at most --step up to each budget, 5 seeds,
the default head. Fashion-MNIST on real embeddings, plus the toy set and digits. Prints a table of
mean accuracy ± sd per strategy per budget, and for each strategy the labels it needs to reach
random's accuracy at 1,000 and at 2,000 labels; then mean macro-F1 per budget and the labels until every
class has a label (median and worst seed), and `auto`'s gap to random and to the best other strategy at
each budget with the worst one. Writes summary.json (with ``auto_gaps`` and ``labels_until_every_class``),
table.md, curves.csv and curves.png.
The same runs are reachable as `labelwise simulate --dataset D --budgets 10,20,...`.
--reuse DIR joins an earlier run's curves (DIR/<dataset>/curves.csv) of the strategies not run now, so that
one changed strategy can be re-measured against the others' curves without running them again.

--heads compares heads (issue 14): curves of heads other than the logistic one are named
``strategy+head``, and each head's difference to the logistic head is printed per budget, with the
worst per-seed-mean gap (e.g. `--strategies random --heads logistic,label-spreading,self-training,auto`).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import perturbed_copies

from labelwise.loop import plots, report
from labelwise.loop.datasets import FASHION_MNIST_CLASSES, Dataset, fashion_mnist_arrays, load_dataset
from labelwise.loop.simulate import CurvePoint, simulate

ALL = "random,margin,entropy,least-confidence,variance,bald,typiclust,probcover,kcenter,badge,cluster-margin,auto"
LONG = [10, 20, 50, 100, 200, 500, 1000, 2000]
SMALL = [10, 20, 50, 100, 200, 500]
BUDGETS = {
    "fashion-mnist": LONG,
    # The issue-10 suite, derived from the installed Fashion-MNIST (no downloads). Pixels, not backbone
    # embeddings: embedding 70k images does not fit on a 2-core machine. Pools are sub-sampled (sizes below).
    "fmnist-10k": LONG,
    "fmnist-longtail": LONG,
    "fmnist-shirt-pair": SMALL,
    "fmnist-neardup": LONG,
    # The same long tail on Lite0 embeddings (the features; loads in seconds once the 70k are cached).
    "lite0-longtail": LONG,
    "digits": [10, 20, 50, 100, 200, 500],
    "toy": [4, 8, 12, 20, 28],
}


SUITE_POOL = 10_000  # pool size of the Fashion-MNIST variants; the test split is the 10k official test set
PCA_DIM = 64


def _pixels(seed: int = 0) -> tuple[np.ndarray, ...]:
    train_x, train_y, test_x, test_y = fashion_mnist_arrays()
    return train_x.astype(np.float32) / 255.0, train_y.astype(np.int64), test_x.astype(np.float32) / 255.0, test_y


def _pca_dataset(name: str, pool_x, pool_y, test_x, test_y, classes) -> Dataset:
    """PCA fitted on the pool's pixels (as a user would on their own pool), the test split projected."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=PCA_DIM, random_state=0).fit(pool_x.reshape(len(pool_x), -1))
    project = lambda x: pca.transform(x.reshape(len(x), -1)).astype(np.float32)  # noqa: E731
    return Dataset(name, project(pool_x), pool_y, project(test_x), test_y, classes, initial=10, batch=10)


def fmnist_10k() -> Dataset:
    x, y, tx, ty = _pixels()
    pick = np.random.default_rng(0).choice(len(x), SUITE_POOL, replace=False)
    return _pca_dataset("fmnist-10k", x[pick], y[pick], tx, ty, FASHION_MNIST_CLASSES)


def longtail_pick(y: np.ndarray, ratio: float = 100.0) -> np.ndarray:
    """Pool indices with class sizes falling geometrically from 3,000 to 3000/ratio (class order shuffled once)."""
    rng = np.random.default_rng(0)
    order = rng.permutation(10)
    sizes = np.round(3000 * ratio ** (-np.arange(10) / 9)).astype(int)  # 3000 ... 30
    members = [np.flatnonzero(y == c) for c in order]
    return np.concatenate([rng.choice(m, s, replace=False) for m, s in zip(members, sizes, strict=True)])


def fmnist_longtail(ratio: float = 100.0) -> Dataset:
    """Class sizes falling geometrically from the largest to 1/ratio of it (class order shuffled once)."""
    x, y, tx, ty = _pixels()
    pick = longtail_pick(y, ratio)
    return _pca_dataset("fmnist-longtail", x[pick], y[pick], tx, ty, FASHION_MNIST_CLASSES)


def _lite0_subset(name: str, pick_from: Callable[[np.ndarray], np.ndarray]) -> Dataset:
    """A sub-pool of Fashion-MNIST on Lite0 embeddings (PCA-256 of the 60k pool, cached), the 10k test set."""
    full = load_dataset("fashion-mnist")
    pick = pick_from(full.y_pool)
    return Dataset(name, full.X_pool[pick], full.y_pool[pick], full.X_test, full.y_test, full.class_names,
                   initial=10, batch=10, extras=full.extras)  # fmt: skip


def lite0_longtail() -> Dataset:
    return _lite0_subset("lite0-longtail", longtail_pick)


def fmnist_shirt_pair() -> Dataset:
    """The hardest binary pair: Shirt (class 6) against T-shirt/top (class 0)."""
    x, y, tx, ty = _pixels()
    keep, tkeep = np.isin(y, [0, 6]), np.isin(ty, [0, 6])
    pick = np.random.default_rng(0).choice(np.flatnonzero(keep), 5000, replace=False)
    return _pca_dataset("fmnist-shirt-pair", x[pick], (y[pick] == 6).astype(np.int64), tx[tkeep],
                        (ty[tkeep] == 6).astype(np.int64), ("T-shirt/top", "Shirt"))  # fmt: skip


def fmnist_neardup(share: float = 0.3) -> Dataset:
    """30% of the pool are near-duplicates: other pool images shifted by 1-2 px or cropped and padded back."""
    x, y, tx, ty = _pixels()
    rng = np.random.default_rng(0)
    n_dup = int(share * SUITE_POOL)
    pick = rng.choice(len(x), SUITE_POOL - n_dup, replace=False)
    base, labels = x[pick], y[pick]
    dups, src = perturbed_copies(base, n_dup, rng)
    return _pca_dataset("fmnist-neardup", np.concatenate([base, dups]), np.concatenate([labels, labels[src]]),
                        tx, ty, FASHION_MNIST_CLASSES)  # fmt: skip


SUITE = {"fmnist-10k": fmnist_10k, "fmnist-longtail": fmnist_longtail, "fmnist-shirt-pair": fmnist_shirt_pair,
         "fmnist-neardup": fmnist_neardup, "lite0-longtail": lite0_longtail}  # fmt: skip


def read_curves(path: Path, skip: set[str]) -> list[CurvePoint]:
    """The points of an earlier run's curves.csv, less the strategies in ``skip`` (those run again now)."""
    ints, floats = {"seed", "round", "n_labeled", "audit_n", "classes_labeled"}, {"accuracy", "macro_f1",
                    "audit_accuracy", "audit_low", "audit_high"}  # fmt: skip
    points = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["strategy"] in skip:
                continue
            fields = {k: (None if v == "" else int(v) if k in ints else float(v) if k in floats else v)
                      for k, v in row.items()}  # fmt: skip
            points.append(CurvePoint(**fields))
    return points


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


def f1_table(summary: dict, budgets: list[int], until_all: dict[str, list[int | None]]) -> str:
    """Mean macro-F1 per strategy per budget, and the labels until every class had one (median and worst
    seed; "never" when some seed still missed a class at the last budget)."""
    head = ["strategy", *(str(b) for b in budgets), "labels until every class has one: median (worst seed)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, curve in summary["strategies"].items():
        f1 = dict(zip(curve["n_labeled"], curve.get("macro_f1", [None] * len(curve["n_labeled"])), strict=True))
        cells = [name] + ["—" if f1.get(b) is None else f"{f1[b]:.3f}" for b in budgets]
        firsts = until_all.get(name, [])
        if firsts and all(f is not None for f in firsts):
            cells.append(f"{int(np.median(firsts))} ({max(firsts)})")
        else:
            cells.append(f"never in {sum(f is None for f in firsts)} of {len(firsts)} seeds")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def worst_gaps(summary: dict, budgets: list[int], curve: str = "auto") -> dict[str, list]:
    """``curve`` minus random and minus the best other single strategy (hindsight), per budget, in points,
    and the worst budget of each: [budget, gap, best strategy there]."""
    curves = summary["strategies"]
    at = {name: dict(zip(c["n_labeled"], c["mean"], strict=True)) for name, c in curves.items()}
    others = [n for n in curves if n != curve and "+" not in n]
    out: dict[str, list] = {"vs_random": [], "vs_best": []}
    for b in budgets:
        if b not in at[curve]:
            continue
        if b in at.get("random", {}):
            out["vs_random"].append([b, 100 * (at[curve][b] - at["random"][b]), "random"])
        present = [n for n in others if b in at[n]]
        if present:
            best = max(present, key=lambda n: at[n][b])
            out["vs_best"].append([b, 100 * (at[curve][b] - at[best][b]), best])
    return {**out, **{f"worst_{k}": min(v, key=lambda g: g[1]) for k, v in out.items() if v}}


def print_head_gaps(summary: dict, strategies: list[str], heads: list[str], budgets: list[int]) -> None:
    """Per strategy and head: mean accuracy minus the logistic head's, in points, at each budget."""
    curves = summary["strategies"]
    for strategy in strategies:
        if strategy not in curves:
            continue
        base = dict(zip(curves[strategy]["n_labeled"], curves[strategy]["mean"], strict=True))
        for head in heads:
            name = f"{strategy}+{head}"
            if name not in curves:
                continue
            mean = dict(zip(curves[name]["n_labeled"], curves[name]["mean"], strict=True))
            gaps = [100 * (mean[b] - base[b]) for b in budgets if b in mean and b in base]
            print(f"{name} minus {strategy} (logistic head), points: "
                  + ", ".join(f"{b}: {100 * (mean[b] - base[b]):+.1f}" for b in budgets if b in mean and b in base)
                  + f"; worst {min(gaps):+.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="fashion-mnist,digits,toy")
    parser.add_argument("--strategies", default=ALL)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--step", type=int, default=250, help="largest batch between two budgets")
    parser.add_argument("--max-budget", type=int, default=None, help="cut the budgets (a quick run)")
    parser.add_argument("--heads", default="logistic", help="comma-separated heads (logistic first to compare)")
    parser.add_argument("--audit-fraction", type=float, default=0.05, help="random audit picks per batch, as served")
    parser.add_argument("--out", type=Path, default=Path("bench-out/label-efficiency"))
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier --out: its curves of the strategies not run now join the tables")  # fmt: skip
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    heads = args.heads.split(",")
    for name in args.datasets.split(","):
        budgets = [b for b in BUDGETS[name] if args.max_budget is None or b <= args.max_budget]
        data = SUITE[name]() if name in SUITE else load_dataset(name)
        start = time.perf_counter()
        points = simulate(data, strategies, args.seeds, 0, min(args.step, budgets[-1]), budgets[-1],
                          checkpoints=budgets, audit_fraction=args.audit_fraction, heads=heads)  # fmt: skip
        if args.reuse is not None and (args.reuse / name / "curves.csv").exists():
            points = read_curves(args.reuse / name / "curves.csv", set(strategies)) + points
            order = {s: i for i, s in enumerate(ALL.split(","))}  # tables in the usual order, auto last
            points.sort(key=lambda p: order.get(p.strategy, len(order)))
        summary = report.summarize(points, budgets[-1])
        summary.update(dataset=name, budgets=budgets, seeds=args.seeds, step=args.step)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        report.write_curves_csv(points, out / "curves.csv")
        plots.plot_curves(summary, out / "curves.png", f"{name}: {args.seeds} seeds", log_x=True)
        targets = [t for t in (1000, 2000) if t in budgets] or [budgets[-1]]
        until_all = report.labels_until_every_class(points, data.n_classes)
        text = table(summary, budgets, targets)
        f1_text = f1_table(summary, budgets, until_all)
        print(f"\n{name}: mean test accuracy ± sd over {args.seeds} seeds ({time.perf_counter() - start:.0f} s)")
        print(text)
        print(f"\n{name}: mean macro-F1, and labels until every class has a label")
        print(f1_text)
        print_head_gaps(summary, strategies, heads, budgets)
        if "auto" in summary["strategies"] and "random" in summary["strategies"]:
            gaps = worst_gaps(summary, budgets)
            summary["auto_gaps"] = gaps
            for key, title in (("vs_best", "best single strategy"), ("vs_random", "random")):
                print(f"auto minus {title} (points): " + ", ".join(f"{b}: {g:+.1f}" for b, g, _ in gaps[key])
                      + "; worst at {}: {:+.1f} ({})".format(*gaps[f"worst_{key}"]))  # fmt: skip
        summary["labels_until_every_class"] = until_all
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (out / "table.md").write_text(text + "\n\n" + f1_text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
