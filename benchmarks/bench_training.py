"""Retraining time of the default head and of the committee (5 members) on 256-d embeddings."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, blobs, print_table

from labelwise.learn import BootstrapCommittee, Head


def main() -> None:
    k, d = 10, 256
    rows = []
    for n in (100, 1000, 5000):
        X, y = blobs(n, d, k, seed=n)
        head_s = best_of(lambda X=X, y=y: Head(classes=list(range(k))).fit(X, y))
        committee_s = best_of(
            lambda X=X, y=y: BootstrapCommittee(Head(classes=list(range(k))), n_members=5, random_state=0).fit(X, y)
        )
        rows.append([f"{n:,}", f"{head_s:.3f}", f"{committee_s:.3f}", f"{committee_s / head_s:.1f}x"])
    print(f"Retraining on {d}-d embeddings, {k} classes (best of 3)")
    print_table(["labels", "head s", "committee(5) s", "committee/head"], rows)


if __name__ == "__main__":
    main()
