"""How ``auto``'s selection rule would choose, measured offline on the suite (issue 14, goal 1).

For each data set, strategy and seed, the labels are chosen as the label-efficiency protocol does
with the logistic head; at each budget every candidate head is cross-validated on those labels
(exactly as ``AutoHead`` does: ``held_out_correct``) and trained on them, and its test accuracy is
kept. A selection rule is then a function of the candidates' held-out outcomes, and its test
accuracy minus the logistic head's is known for every rule at once, without a run per rule. (The
labels a semi-supervised head would have chosen itself differ; the end-to-end runs are
label_efficiency.py and bench_heads_fmnist.py.) Writes one JSON line per (set, strategy, seed, budget).

    python benchmarks/bench_heads_rule.py --datasets toy,digits --strategies auto,random --seeds 5 --max-budget 200
    python benchmarks/bench_heads_rule.py --analyse bench-out/heads-rule.jsonl

``--analyse`` prints, per set and strategy, the worst per-budget mean difference to the logistic head
(points, over the seeds) of each rule, and the mean gain at the budgets with at most 2 labels per
class: ``1-SE`` (the earlier rule: best candidate if its paired gain exceeds one standard error),
``sign`` (the sign test against the logistic head), ``auto`` (today's ``AutoHead``: up to 1 label per
class label spreading as the default after a coverage-first strategy's picks
(``choose.GRAPH_DEFAULT_STRATEGIES``), else self-training; self-training up to 2, the sign test against
the default, nothing semi-supervised above 20 labels per class), each head always, and the hindsight
best head per retrain.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from label_efficiency import BUDGETS, SUITE

from labelwise.learn import choose
from labelwise.learn.choose import CANDIDATES, choose_head, fit_on_pool, held_out_correct, make_head
from labelwise.loop.datasets import load_dataset
from labelwise.loop.simulate import initial_indices, run_one, start_size

_DATA = None


def load(name: str, pool: int | None):
    if name == "fashion-mnist-lite0":
        from bench_heads_fmnist import lite0_pool

        return lite0_pool(pool)
    return SUITE[name]() if name in SUITE else load_dataset(name)


def order_of_labels(data, strategy: str, seed: int, budgets: list[int]) -> np.ndarray:
    """The pool rows in the order the strategy (with the logistic head) labeled them, to the last budget."""
    _, loop = run_one(data, strategy, seed, 0, min(250, budgets[-1]), budgets[-1], checkpoints=budgets)
    order = list(initial_indices(data, start_size(strategy, 0), seed))
    for record in loop.history:
        if record.selected is not None:
            order.extend(int(i) for i in record.selected if int(i) not in set(order))
    return np.array(order)


def job(args: tuple) -> list[dict]:
    name, strategy, seed, budgets = args
    data = _DATA
    classes = list(range(data.n_classes))
    rows = []
    with threadpool_limits(1):
        order = order_of_labels(data, strategy, seed, budgets)
        for b in budgets:
            if b > order.size:
                break
            y = np.full(data.y_pool.shape, -1)
            y[order[:b]] = data.y_pool[order[:b]]
            row = {"dataset": name, "strategy": strategy, "seed": seed, "budget": b, "heads": {}}
            if np.unique(y[order[:b]]).size < 2:
                continue
            for head_name in CANDIDATES:
                head = make_head(head_name, classes)
                correct = held_out_correct(head, data.X_pool, y, 5, seed)
                model = fit_on_pool(make_head(head_name, classes), data.X_pool, y)
                test = float((model.predict(data.X_test) == data.y_test).mean())
                row["heads"][head_name] = {"correct": correct.astype(int).tolist(), "test": test}
            rows.append(row)
    return rows


def _one_se(correct: dict[str, np.ndarray]) -> str:
    best = max(correct, key=lambda h: (correct[h].mean(), h == "logistic"))
    diff = correct[best].astype(float) - correct["logistic"].astype(float)
    se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else np.inf
    return best if best != "logistic" and diff.mean() > se else "logistic"


def _auto(correct: dict[str, np.ndarray], n: int, k: int, strategy: str) -> str:
    """``AutoHead``'s choice, with the default ``make_head`` gives it for labels picked by ``strategy``."""
    if n > choose.MAX_LABELS_PER_CLASS * k:
        return "logistic"
    graph_default = strategy in choose.GRAPH_DEFAULT_STRATEGIES
    return choose_head(correct, choose.default_head(tuple(correct), n, k, graph_default)[0])[0]


# Each rule: (held-out outcomes per head, labels, classes, the strategy that picked the labels) -> head.
RULES = {
    "1-SE": lambda c, n, k, s: _one_se(c),
    "sign": lambda c, n, k, s: choose_head(c, "logistic")[0],
    "auto": _auto,
    "logistic": lambda c, n, k, s: "logistic",
    "self-training": lambda c, n, k, s: "self-training",
    "label-spreading": lambda c, n, k, s: "label-spreading",
}


def analyse(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    n_classes = {name: load_classes(name) for name in {r["dataset"] for r in rows}}
    gaps: dict[tuple, dict[str, list[float]]] = {}
    for r in rows:
        k = n_classes[r["dataset"]]
        correct = {h: np.array(v["correct"], dtype=bool) for h, v in r["heads"].items()}
        test = {h: v["test"] for h, v in r["heads"].items()}
        cell = gaps.setdefault((r["dataset"], r["strategy"], r["budget"], r["budget"] <= 2 * k), {})
        for name, rule in RULES.items():
            chosen = rule(correct, r["budget"], k, r["strategy"])
            cell.setdefault(name, []).append(100 * (test[chosen] - test["logistic"]))
        cell.setdefault("best", []).append(100 * (max(test.values()) - test["logistic"]))
    names = [*RULES, "best"]
    print("| set | labels | seeds | " + " | ".join(f"{n}: worst" for n in names) + " | "
          + " | ".join(f"{n}: mean at <= 2/class" for n in ("1-SE", "auto", "best")) + " |")  # fmt: skip
    print("|" + "---|" * (3 + len(names) + 3))
    for dataset, strategy in sorted({key[:2] for key in gaps}):
        cells = {key: v for key, v in gaps.items() if key[:2] == (dataset, strategy)}
        seeds = min(len(v["logistic"]) for v in cells.values())
        worst = [min(np.mean(v[n]) for v in cells.values()) for n in names]
        small = [[np.mean(v[n]) for key, v in cells.items() if key[3]] for n in ("1-SE", "auto", "best")]
        print(f"| {dataset} | {strategy} | {seeds} | " + " | ".join(f"{w:+.1f}" for w in worst) + " | "
              + " | ".join(f"{np.mean(s):+.1f}" if s else "—" for s in small) + " |")  # fmt: skip


def load_classes(name: str) -> int:
    return {"toy": 2, "fmnist-shirt-pair": 2}.get(name, 10)


def init(name: str, pool: int | None) -> None:
    global _DATA
    _DATA = load(name, pool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="toy,digits")
    parser.add_argument("--strategies", default="auto,random")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-budget", type=int, default=200)
    parser.add_argument("--pool", type=int, default=10_000, help="pool of fashion-mnist-lite0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-out/heads-rule.jsonl"))
    parser.add_argument("--analyse", type=Path, default=None, help="print the rules' table from a JSON-lines file")
    args = parser.parse_args()
    if args.analyse is not None:
        analyse(args.analyse)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as out:
        for name in args.datasets.split(","):
            key = "fashion-mnist" if name == "fashion-mnist-lite0" else name
            budgets = [b for b in BUDGETS[key] if b <= args.max_budget]
            jobs = [(name, s, seed, budgets) for s in args.strategies.split(",") for seed in range(args.seeds)]
            with ProcessPoolExecutor(args.workers, initializer=init, initargs=(name, args.pool)) as pool:
                for rows in pool.map(job, jobs):
                    for row in rows:
                        out.write(json.dumps(row) + "\n")
                    out.flush()
            print(f"{name}: done", flush=True)


if __name__ == "__main__":
    main()
