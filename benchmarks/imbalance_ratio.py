"""What ``auto``'s long-tail test reads on each data set of the suite: the predicted imbalance ratio.

For 20, 50, 200 and 1,000 random labels (3 seeds), the default head is fitted on the labels and
:func:`labelwise.strategies.auto.predicted_imbalance` is read on the pool (largest over smallest mean
predicted share of the classes that have a label). ``auto`` treats the pool as long-tailed from
``IMBALANCE_RATIO`` (10) on. Prints one line per data set: the range over seeds at each number of labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from label_efficiency import SUITE

from labelwise.loop.datasets import load_dataset
from labelwise.strategies import PoolView
from labelwise.strategies.auto import predicted_imbalance


def ratio(data, n: int, seed: int) -> float:
    idx = np.random.default_rng(seed).choice(len(data.y_pool), n, replace=False)
    labeled = np.zeros(len(data.y_pool), dtype=bool)
    labeled[idx] = True
    labels = np.where(labeled, data.y_pool, -1)
    probs = np.zeros((len(data.y_pool), data.n_classes))
    if np.unique(data.y_pool[idx]).size > 1:  # the default head's estimator, as in auto's replay
        model = LogisticRegression(C=1.0, max_iter=200, tol=1e-3).fit(data.X_pool[idx], data.y_pool[idx])
        probs[:, model.classes_] = model.predict_proba(data.X_pool)
    view = PoolView(labeled=labeled, probs=probs, labels=labels, n_classes=data.n_classes)
    return predicted_imbalance(view)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="toy,digits,fmnist-shirt-pair,fmnist-10k,fmnist-neardup,"
                        "fmnist-longtail,lite0-longtail,fashion-mnist")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    for name in args.datasets.split(","):
        data = SUITE[name]() if name in SUITE else load_dataset(name)
        cells = []
        for n in (20, 50, 200, 1000):
            if n <= len(data.y_pool) // 2:
                r = [ratio(data, n, seed) for seed in range(args.seeds)]
                cells.append(f"{n}: {min(r):.1f} to {max(r):.1f}")
        print(f"{name}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
