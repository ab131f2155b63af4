"""Set strategies on a big pool: seconds to choose a batch of 100 from 100,000 items (256-d).

The floor is the time of margin + top-k on the same pool (head prediction included), measured in
the same run: the ratio says what diversity costs over plain uncertainty sampling.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, blobs, print_table

from labelwise.learn import Head
from labelwise.strategies import PoolView, get_strategy

STRATEGIES = ["margin", "kcenter", "typiclust", "probcover", "badge", "cluster-margin", "auto"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--labeled", default="100,1000")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    k = 10
    X, y = blobs(args.pool, 256, k, seed=3)
    rows = []
    for n_labeled in (int(s) for s in args.labeled.split(",")):
        labeled = np.zeros(args.pool, dtype=bool)
        labeled[np.random.default_rng(0).choice(args.pool, n_labeled, replace=False)] = True
        head = Head(classes=list(range(k))).fit(X[labeled], y[labeled])
        floor = None
        for name in STRATEGIES:
            strategy = get_strategy(name)

            def choose(strategy=strategy, labeled=labeled, head=head):
                view = PoolView(labeled=labeled, probs=head.predict_proba(X), embeddings=X, n_classes=k)
                return strategy.query(view, args.batch, seed=0)

            seconds = best_of(choose, repeat=2)
            floor = floor or seconds
            label = strategy.label(PoolView(labeled=labeled, probs=np.ones((1, k)) / k, embeddings=X, n_classes=k))
            rows.append([f"{n_labeled:,}", label, f"{seconds:.2f}", f"{seconds / floor:.1f}x"])
    print(f"Choosing {args.batch} of {args.pool:,} items (256-d, {k} classes); head prediction included")
    print_table(["labeled", "strategy", "seconds", "vs margin"], rows)


if __name__ == "__main__":
    main()
