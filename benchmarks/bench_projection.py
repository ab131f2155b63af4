"""What the PCA projection of embeddings costs in accuracy, and what it saves in time.

Fashion-MNIST on real embeddings (cached after the first run): the default head trained on
random labeled sets of several sizes, on the full embedding against its PCA projection.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table

from labelwise.learn import Head
from labelwise.loop.datasets import fashion_mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    full = fashion_mnist(args.backbone, pca_components=0)
    variants = {"full": full}
    for k in (256, 64):
        variants[f"pca-{k}"] = fashion_mnist(args.backbone, pca_components=k)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = [f"{n:,}"]
        for data in variants.values():
            accs, times = [], []
            for seed in range(args.seeds):
                idx = np.random.default_rng(seed).choice(len(data.y_pool), n, replace=False)
                start = time.perf_counter()
                head = Head(classes=list(range(10))).fit(data.X_pool[idx], data.y_pool[idx])
                times.append(time.perf_counter() - start)
                accs.append((head.predict(data.X_test) == data.y_test).mean())
            row.append(f"{np.mean(accs):.3f} ± {np.std(accs):.3f} ({np.mean(times):.2f}s)")
        rows.append(row)
    dims = {name: data.X_pool.shape[1] for name, data in variants.items()}
    print(f"Fashion-MNIST, {args.backbone} embeddings: test accuracy (fit seconds), mean of {args.seeds} seeds")
    print_table(["labels", *(f"{name} ({d}-d)" for name, d in dims.items())], rows)


if __name__ == "__main__":
    main()
