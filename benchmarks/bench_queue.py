"""What building the queue as successive batches costs (issue 17).

The server's queue is ``queue_size`` (200) images built as batches of ``retrain_every`` (10): a
scoring strategy scores once and slices; a set strategy is called once per batch, 20 times. For
each pool size and strategy this prints the time to build the 200-image queue, against the
baseline measured in the same run: one call of the strategy for one batch of 10, and the old
single call for 200 (what the server did before). The server builds set strategies' first
``EXACT_BATCHES`` batches one by one and the rest in one call; both are timed. The model is
trained beforehand and not timed; times are single runs on a shared machine.

Pools are synthetic blobs in 256-D (the projected embedding size), 10 classes. ``auto`` is measured
in both of its phases: 50 labels (TypiClust) and 300 labels (Cluster-Margin).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).parent))
from _common import blobs, print_table

from labelwise.loop import ActiveLoop
from labelwise.loop.ranking import build_queue
from labelwise.project.training import EXACT_BATCHES
from labelwise.strategies import get_strategy


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--queue", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        X, y = blobs(n, 256, 10, seed=0)
        for name, n_labels in (("margin", 50), ("auto", 50), ("auto", 300)):
            loop = ActiveLoop(X, 10, strategy=name, estimate_accuracy=False, seed=0)
            first = np.random.default_rng(1).choice(n, n_labels, replace=False)
            loop.teach(first, y[first])
            loop.fit()
            view = loop.pool_view()
            strategy = get_strategy(name)
            one = timed(lambda: strategy.query(view, args.batch, seed=0))  # noqa: B023
            old = timed(lambda: strategy.query(view, args.queue, seed=0))  # noqa: B023
            queue = None

            def build():
                nonlocal queue
                queue = build_queue(strategy, view, batch_size=args.batch, queue_size=args.queue, seed=0)  # noqa: B023

            new = timed(build)
            assert queue is not None and len(queue.picks) == args.queue
            served = timed(lambda: build_queue(strategy, view, batch_size=args.batch, queue_size=args.queue, seed=0,  # noqa: B023
                                               exact_batches=EXACT_BATCHES))  # fmt: skip
            rows.append([f"{n:,}", name, str(n_labels), strategy.label(view), f"{one:.2f}", f"{old:.2f}",
                         f"{new:.2f}", f"{served:.2f}", f"{served / one:.1f}"])  # fmt: skip
            print(*rows[-1], flush=True)
    print(f"\nqueue of {args.queue} as batches of {args.batch} (seconds; 2 shared cores)")
    print_table(["pool", "strategy", "labels", "chose", f"1 batch of {args.batch}", f"old: 1 call for {args.queue}",
                 "all batches one by one", f"server: {EXACT_BATCHES} batches + tail", "server / 1 batch"],
                rows)  # fmt: skip


if __name__ == "__main__":
    main()
