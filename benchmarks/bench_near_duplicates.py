"""Near-duplicate groups (issue 12): precision and recall of the grouping on a pool with 30%
near-duplicates, and no two images of one group in 1,000 served batches.

The pool is built as in the label-efficiency suite (``label_efficiency.fmnist_neardup``): Fashion-MNIST
test images, plus 30% near-duplicates, each another pool image shifted by 1-2 px or cropped to 24-26 px
and placed back at a random offset; all written as PNG files and ingested into a project (the chosen
backbone). A true pair is a near-duplicate and its source, or two near-duplicates of one source; a
found pair is two images in one group. Precision = found true pairs / found pairs, recall = found true
pairs / true pairs, at several cosine thresholds, for the grouping labelwise uses (complete linkage)
and, as the baseline in the same run, single linkage over the same pairs (what labelwise used before);
the exact-pixel duplicate check finds none of them. Then 1,000 batches of 20 are leased (and let go)
and checked for same-group pairs.

``--scale N``: no images; the seconds to group N synthetic vectors (clusters, a quarter of them
disturbed copies) by exact search against the IVF index above ``EXACT_LIMIT``, and how many of the
exact groups' pairs the index finds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import delete, select

sys.path.insert(0, str(Path(__file__).parent))
from _common import perturbed_copies, print_table

from labelwise.loop.datasets import fashion_mnist_arrays
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.near_duplicates import group_of, set_threshold, threshold
from labelwise.project.queue import lease_next
from labelwise.project.training import QueueEntry, Ranking
from labelwise.project.users import add_user
from labelwise.store.models import STATUS_OK, Image, Lease, User
from labelwise.strategies.neighbours import near_duplicate_groups, similar_pairs


def near_duplicate_pool(n_base: int, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pictures (n, 28, 28) and each one's source: its own index for originals, the original's for copies."""
    _, _, x, _ = fashion_mnist_arrays()
    rng = np.random.default_rng(seed)
    base = x[rng.choice(len(x), n_base, replace=False)]
    n_dup = round(share * n_base / (1 - share))
    dups, src = perturbed_copies(base, n_dup, rng)
    return np.concatenate([base, dups]), np.concatenate([np.arange(n_base), src])


def pairs(groups: np.ndarray) -> set[tuple[int, int]]:
    found = set()
    for g in np.unique(groups[groups >= 0]):
        found.update(itertools.combinations(np.flatnonzero(groups == g).tolist(), 2))
    return found


def single_linkage(vectors: np.ndarray, t: float) -> np.ndarray:
    """The baseline: every chain of pairs at least ``t`` is one group (labelwise's grouping before)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j, _ = similar_pairs(vectors, t, exact=True)
    n = len(vectors)
    _, roots = connected_components(coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)), directed=False)
    return np.where(np.bincount(roots, minlength=n)[roots] > 1, roots, -1)


def scale(n: int, d: int) -> None:
    """Seconds to group ``n`` x ``d`` synthetic vectors, exact against IVF, and the IVF's recall of pairs."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, d))
    base = centres[rng.integers(0, 50, n - n // 4)] + 0.8 * rng.normal(size=(n - n // 4, d))
    copies = base[rng.integers(0, len(base), n // 4)] + 0.05 * rng.normal(size=(n // 4, d))
    X = np.concatenate([base, copies]).astype(np.float32)
    del base, copies
    table, found = [], {}
    for exact in (True, False):
        start = time.perf_counter()
        found[exact] = pairs(near_duplicate_groups(X, 0.97, exact=exact))
        table.append(["exact" if exact else "IVF", f"{time.perf_counter() - start:.1f}", str(len(found[exact]))])
    agree = len(found[True] & found[False]) / max(len(found[True]), 1)
    print(f"{n} x {d} synthetic vectors, cosine >= 0.97; IVF finds {agree:.4f} of the exact groups' pairs")
    print_table(["search", "seconds", "pairs in groups"], table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=int, default=700, help="original images; 30%% more are near-duplicates")
    parser.add_argument("--backbone", default="squeezenet")
    parser.add_argument("--thresholds", default="0.85,0.9,0.93,0.95,0.97,0.99")
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--project-threshold", type=float, default=0.97, help="the project's, for the batches")
    parser.add_argument("--scale", type=int, default=0, help="only time grouping this many synthetic vectors")
    parser.add_argument("--dim", type=int, default=1280, help="their dimension (lite0's)")
    args = parser.parse_args()
    if args.scale:
        scale(args.scale, args.dim)
        return
    pictures, source = near_duplicate_pool(args.base, 0.3)
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for i, picture in enumerate(pictures):
            PILImage.fromarray(picture).save(images / f"{i:05d}.png")
        project = Project.create(Path(tmp) / "proj", images, backbone=args.backbone)
        set_threshold(project, args.project_threshold)
        start = time.perf_counter()
        report = ingest_folder(project)
        print(f"{len(pictures)} images ({len(pictures) - args.base} near-duplicates), {args.backbone}: ingested in "
              f"{time.perf_counter() - start:.0f} s; byte-identical duplicates found: {report.duplicates}")  # fmt: skip
        with project.sessions() as session:
            rows = session.execute(select(Image.path, Image.content_hash).where(Image.status == STATUS_OK)).all()
        index = np.array([int(Path(p).stem) for p, _ in rows])
        vectors = project.store.get([h for _, h in rows])
        true = {(a, b) for a, b in itertools.combinations(range(len(index)), 2) if source[index[a]] == source[index[b]]}
        table = []
        for t in (float(v) for v in args.thresholds.split(",")):
            t0 = time.perf_counter()
            found = pairs(near_duplicate_groups(vectors, t))
            seconds = time.perf_counter() - t0
            chained = pairs(single_linkage(vectors, t))
            row = [f"{t:.2f}"]
            for got in (found, chained):
                hit = len(got & true)
                row += [str(len(got)), f"{hit / len(got) if got else float('nan'):.3f}", f"{hit / len(true):.3f}"]
            table.append([*row, f"{seconds:.2f}"])
        print(f"{len(true)} true near-duplicate pairs")
        print_table(["cosine >=", "pairs found", "precision", "recall", "single-linkage pairs", "precision",
                     "recall", "seconds"], table)  # fmt: skip
        groups = group_of(project)
        add_user(project, "bench", "annotator")
        with project.sessions() as session:
            user = session.scalar(select(User).where(User.name == "bench"))
            ids = list(session.scalars(select(Image.id).where(Image.status == STATUS_OK)))
        rng = np.random.default_rng(1)
        clashes, served = 0, 0
        for _ in range(args.batches):
            # Each batch from a fresh random ranking: 1,000 different batches, not one batch 1,000 times.
            order = [QueueEntry(int(i), None) for i in rng.permutation(ids)]
            batch = lease_next(project, user, 20, Ranking(None, "random", order), lease_minutes=10)
            members = [groups[i.image_id] for i in batch if i.image_id in groups]
            clashes += len(members) - len(set(members))
            served += len(batch)
            with project.sessions.begin() as session:
                session.execute(delete(Lease))
        print(f"project threshold {threshold(project)}: {len(set(groups.values()))} groups; {args.batches} served "
              f"batches ({served} images): {clashes} same-group pairs")  # fmt: skip
        project.close()


if __name__ == "__main__":
    main()
