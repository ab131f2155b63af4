"""Re-ranking the whole pool: head prediction + scoring + top-k, against reading the pool once.

Pools of 10k, 100k and 1M rows x 256 float32, 10 classes. The floor is the time numpy needs to
read the same array once (a column sum, memory-bandwidth bound); the ratio is the figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, blobs, print_table

from labelwise.learn import BootstrapCommittee, Head
from labelwise.strategies import PoolView, get_strategy

STRATEGIES = ["random", "least-confidence", "margin", "entropy", "variance", "bald"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    k = 10
    X_train, y_train = blobs(1000, args.dim, k, seed=1)
    head = Head(classes=list(range(k))).fit(X_train, y_train)
    committee = BootstrapCommittee(Head(classes=list(range(k))), n_members=5, random_state=0).fit(X_train, y_train)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        X, _ = blobs(n, args.dim, k, seed=2)
        labeled = np.zeros(n, dtype=bool)
        labeled[:: max(n // 1000, 1)] = True
        floor = best_of(lambda X=X: X.sum(axis=0))
        for name in STRATEGIES:
            strategy = get_strategy(name)

            def rerank(X=X, labeled=labeled, strategy=strategy):
                probs = samples = None
                if "samples" in strategy.needs:
                    samples = committee.predict_proba_samples(X)
                elif strategy.needs:
                    probs = head.predict_proba(X)
                view = PoolView(labeled=labeled, probs=probs, samples=samples)
                return strategy.query(view, args.batch, seed=0)

            seconds = best_of(rerank, repeat=3 if n <= 100_000 else 2)
            rows.append(
                [f"{n:,}", name, f"{seconds:.3f}", f"{n / seconds:,.0f}", f"{floor:.3f}", f"{seconds / floor:.1f}x"]
            )
        del X
    print(f"Re-ranking a pool ({args.dim}-d float32, 10 classes, batch {args.batch}); committee of 5 for variance/bald")
    print_table(["pool", "strategy", "seconds", "rows/s", "read-once s", "vs read-once"], rows)


if __name__ == "__main__":
    main()
