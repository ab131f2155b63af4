"""Similar-image batches on Fashion-MNIST (issue 12): the share of correct pre-ticks in a 48-image batch.

A project is built as a user builds one (``labelwise init`` on PNG files, the chosen backbone, PCA),
one image of each class is labeled (the first file of its folder), and ``similar_unlabeled`` gives
its 48 nearest unlabeled neighbours, pre-ticked with its class. A pre-tick is correct when the
neighbour's true class (its folder) is that class. Baseline, in the same run: 48 unlabeled images
drawn at random, pre-ticked the same way. Several start images per class (``--starts``) are
averaged, so one lucky start does not decide a class.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _common import blobs, print_table

from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import label_image
from labelwise.project.pool import load_pool
from labelwise.project.similar import similar_unlabeled


def write_images(root: Path, per_class: int) -> list[str]:
    """``per_class`` test-split pictures of each class as ``Class/NNNNN.png``; returns the class names."""
    _, _, x, y = fashion_mnist_arrays()
    names = [c.replace("/", "-") for c in FASHION_MNIST_CLASSES]
    counts = dict.fromkeys(range(10), 0)
    for i in range(len(x)):
        k = int(y[i])
        if counts[k] < per_class:
            (root / names[k]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).save(root / names[k] / f"{i:05d}.png")
            counts[k] += 1
    return names


def scale(n: int, d: int, queries: int = 20) -> None:
    """Seconds per similar search over ``n`` x ``d`` synthetic projected vectors, exact against the IVF
    index (and its build), and the share of the exact 48 neighbours the index returns, on two pools:
    tight clusters (1,000 of them) and the benchmarks' overlapping Gaussian classes (``blobs``)."""
    from labelwise.strategies.neighbours import CosineIndex, nearest_by_cosine

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, d)).astype(np.float32)
    tight = centres[rng.integers(0, 1000, n)] + 0.15 * rng.standard_normal((n, d), dtype=np.float32)
    table = []
    for name, X in (("tight clusters", tight), ("blobs (10 overlapping classes)", blobs(n, d, 10)[0])):
        start = time.perf_counter()
        index = CosineIndex(X)
        built = time.perf_counter() - start
        exact_s, index_s, recall, closeness = [], [], [], []
        for query in rng.choice(n, queries, replace=False):
            candidates = np.flatnonzero(rng.random(n) < 0.9)  # 10% labeled
            t0 = time.perf_counter()
            exact, exact_sims = nearest_by_cosine(X, X[query], candidates, 48)
            t1 = time.perf_counter()
            found, found_sims = nearest_by_cosine(X, X[query], candidates, 48, index)
            t2 = time.perf_counter()
            exact_s.append(t1 - t0)
            index_s.append(t2 - t1)
            recall.append(len(set(exact.tolist()) & set(found.tolist())) / 48)
            # How much less similar the index's batch is: its 48th neighbour against the exact 48th.
            closeness.append(float(found_sims[-1] / exact_sims[-1]))
        table.append([name, f"{built:.1f}", f"{1000 * np.median(exact_s):.1f}", f"{1000 * np.median(index_s):.1f}",
                      f"{np.median(exact_s) / np.median(index_s):.1f}", f"{np.mean(recall):.3f}",
                      f"{np.mean(closeness):.3f}"])  # fmt: skip
        del X, index
    print(f"{n} x {d} vectors, {queries} queries of 48 among 90% of the pool")
    print_table(["pool", "index build s", "exact ms/query", "index ms/query", "speed-up", "recall@48",
                 "48th cosine / exact 48th"], table)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--backbone", default="squeezenet")
    parser.add_argument("--starts", type=int, default=3, help="start images per class")
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--scale", type=int, default=0, help="only time the search on this many synthetic vectors")
    parser.add_argument("--dim", type=int, default=64, help="their dimension")
    args = parser.parse_args()
    if args.scale:
        scale(args.scale, args.dim)
        return
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        names = write_images(images, args.per_class)
        project = Project.create(Path(tmp) / "proj", images, backbone=args.backbone)
        project.add_classes(names)
        start = time.perf_counter()
        ingest_folder(project)
        print(f"{10 * args.per_class} images ingested and embedded ({args.backbone}) in "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        pool = load_pool(project)
        truth = np.array([names.index(p.split("/")[0]) for p in pool.paths])
        rng = np.random.default_rng(0)
        rows, all_sim, all_rand = [], [], []
        for k, name in enumerate(names):
            starts = rng.choice(np.flatnonzero(truth == k), args.starts, replace=False)
            sim_shares, rand_shares = [], []
            for s in starts:
                label_image(project, pool.paths[s], name)
                t0 = time.perf_counter()
                batch = similar_unlabeled(project, int(pool.image_ids[s]), args.batch)
                seconds = time.perf_counter() - t0
                sim_shares.append(np.mean([i.path.split("/")[0] == name for i in batch.items]))
                labeled = set(np.flatnonzero(load_pool(project).labels >= 0))
                free = np.array([i for i in range(len(truth)) if i not in labeled])
                rand_shares.append(np.mean(truth[rng.choice(free, args.batch, replace=False)] == k))
            all_sim += sim_shares
            all_rand += rand_shares
            rows.append([name, f"{np.mean(sim_shares):.2f}", f"{min(sim_shares):.2f}", f"{np.mean(rand_shares):.2f}",
                         f"{seconds * 1000:.0f}"])  # fmt: skip
        project.close()
    print(f"correct pre-ticks in a {args.batch}-image batch, {args.starts} start images per class, "
          f"pool {10 * args.per_class} Fashion-MNIST test images")  # fmt: skip
    print_table(["class", "similar (mean)", "similar (worst)", "random baseline", "ms per batch"], rows)
    print(f"all classes: similar {np.mean(all_sim):.2f}, random baseline {np.mean(all_rand):.2f}")


if __name__ == "__main__":
    main()
