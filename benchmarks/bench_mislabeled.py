"""Likely-mislabeled finder: how many of the top-ranked labels are the ones we broke.

Protocol (issue 13): 2,000 Fashion-MNIST training images (a fixed random draw per seed from the
60k), embedded by the project's default backbone (lite0, 1280-d) and projected by PCA to 256 as a
project does; 5% of the labels (100) are changed to a uniformly drawn other class; the finder
(confident learning on 5-fold out-of-fold probabilities of the default head, see
labelwise.learn.confident_learning, regularization chosen by out-of-fold log-loss) ranks every
label by the out-of-fold probability of its given label; precision and recall of its top 100.
5 seeds. Baselines in the same run: a random ranking, the flagged rows (confident joint) first,
and the default head (C=1) without the choice of regularization. Prints a table and writes summary.json to --out.

    nice -n 10 python benchmarks/bench_mislabeled.py --out /tmp/mislabeled
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from labelwise.embed import get_backbone
from labelwise.embed.batches import embed_missing
from labelwise.embed.projection import project_features
from labelwise.ingest.pipeline import content_hash
from labelwise.learn.confident_learning import (
    C_GRID,
    out_of_fold_probabilities,
    rank_label_issues,
    select_out_of_fold_probabilities,
)
from labelwise.loop.datasets import embedding_cache, fashion_mnist_arrays

N_CLASSES = 10


def features(indices: np.ndarray, images: np.ndarray, backbone: str, pca: int) -> np.ndarray:
    """Embeddings of ``images[indices]`` through the user's cache (keys as the simulator's)."""
    keys = [content_hash(b"fashion-mnist:" + images[i].tobytes()) for i in indices]
    store, net = embedding_cache(backbone), get_backbone(backbone)
    embed_missing(net, store, keys, lambda j: Image.fromarray(images[indices[j]]))
    return project_features(store.get(keys), pca, None)


def inject_noise(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``y`` with ``fraction`` of the labels moved to another class; returns it and the rows changed."""
    n_wrong = round(fraction * y.size)
    wrong = rng.choice(y.size, n_wrong, replace=False)
    noisy = y.copy()
    noisy[wrong] = (y[wrong] + rng.integers(1, N_CLASSES, n_wrong)) % N_CLASSES
    return noisy, wrong


def precision_recall(ranked: np.ndarray, wrong: np.ndarray, top: int) -> tuple[float, float]:
    hits = np.isin(ranked[:top], wrong).sum()
    return float(hits / top), float(hits / wrong.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--pca", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-mislabeled"))
    args = parser.parse_args()
    train_x, train_y, _, _ = fashion_mnist_arrays()
    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        indices = rng.choice(len(train_x), args.n, replace=False)
        start = time.perf_counter()
        X = features(indices, train_x, args.backbone, args.pca)
        embed_s = time.perf_counter() - start
        y = train_y[indices].astype(np.int64)
        noisy, wrong = inject_noise(y, args.noise, rng)
        top = wrong.size
        start = time.perf_counter()
        probs, C = select_out_of_fold_probabilities(X, noisy, N_CLASSES, random_state=seed)
        issues = rank_label_issues(probs, noisy)
        find_s = time.perf_counter() - start
        cl = precision_recall(issues.order, wrong, top)
        # Baselines: the flagged rows first (confident joint filter, then self-confidence), and the
        # default head (C=1) without the choice of regularization.
        flagged_first = np.lexsort((np.arange(args.n), issues.given_p, ~issues.flagged))
        self_conf = precision_recall(flagged_first, wrong, top)
        plain = rank_label_issues(out_of_fold_probabilities(X, noisy, N_CLASSES, random_state=seed), noisy)
        c1 = precision_recall(plain.order, wrong, top)
        rand = precision_recall(rng.permutation(args.n), wrong, top)
        row = {"seed": seed, "n": args.n, "injected": int(wrong.size), "flagged": int(issues.flagged.sum()),
               "C": C, "cl_precision": cl[0], "cl_recall": cl[1], "flagged_first_precision": self_conf[0],
               "flagged_first_recall": self_conf[1], "c1_precision": c1[0], "c1_recall": c1[1],
               "random_precision": rand[0], "random_recall": rand[1],
               "oof_accuracy": float((probs.argmax(axis=1) == y).mean()), "find_s": find_s,
               "embed_s": embed_s}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"protocol": __doc__, "backbone": args.backbone, "pca": args.pca, "rows": rows}
    for key in (
        "cl_precision",
        "cl_recall",
        "flagged_first_precision",
        "c1_precision",
        "random_precision",
        "find_s",
        "flagged",
    ):
        values = np.array([r[key] for r in rows], dtype=float)
        summary[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "min": float(values.min())}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{'ranking':<28}{'precision@100':>16}{'recall@100':>14}")
    for name, p, r in (("labelwise (self-confidence)", "cl_precision", "cl_recall"),
                       ("flagged first", "flagged_first_precision", "flagged_first_recall"),
                       ("default head C=1", "c1_precision", "c1_recall"),
                       ("random (baseline)", "random_precision", "random_recall")):  # fmt: skip
        ps, rs = [x[p] for x in rows], [x[r] for x in rows]
        print(
            f"{name:<28}{np.mean(ps):>10.3f} ± {np.std(ps, ddof=1):.3f}{np.mean(rs):>8.3f} ± {np.std(rs, ddof=1):.3f}"
        )
    print(f"finder time per run: {summary['find_s']['mean']:.2f} s (5-fold x {len(C_GRID)} C, {args.n} labels); "
          f"C chosen: {[r['C'] for r in rows]}")  # fmt: skip


if __name__ == "__main__":
    main()
