"""Cost of the semi-supervised heads (issue 14): the pool's graph, and a label-spreading retrain.

The kNN graph is label-independent: it is built once per pool (faiss: exact to
``graph.EXACT_LIMIT`` rows, IVF above) and kept in memory and on disk, keyed by the pool's
fingerprint. A retrain then costs the fingerprint plus the spreading (sparse products). This prints:

1. the graph build at each ``--sizes`` (the exponent of its growth, fitted on them, gives the 1M
   estimate), and the IVF graph's recall of the exact neighbours on ``--recall-rows`` rows;
2. the graph read back from disk by a process that has not built it (the in-memory cache cleared);
3. a label-spreading retrain at the largest size, ``--labels`` labels, the graph cached: the head's
   whole ``fit`` (fingerprint, spreading, probabilities of the pool), median of ``--repeats``;
4. the baseline measured in the same run: the logistic head's fit and its probabilities for the pool.

Synthetic clustered embeddings (``--dim`` dimensions, ``--classes`` clusters), 1 BLAS thread, the
cache in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from labelwise.learn import Head, graph
from labelwise.learn.semi import LabelSpreadingHead


def clustered(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centers = rng.normal(size=(k, d)).astype(np.float32)
    return centers[y] + rng.normal(scale=1.5, size=(n, d)).astype(np.float32), y


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def recall(X: np.ndarray, idx: np.ndarray, rows: int) -> float:
    """Share of the exact k nearest neighbours of ``rows`` sampled rows that the graph holds."""
    P = graph.normalize_rows(X)
    pick = np.random.default_rng(0).choice(len(X), rows, replace=False)
    sims = P[pick] @ P.T
    sims[np.arange(rows), pick] = -np.inf  # not itself
    k = idx.shape[1]
    exact = np.argpartition(-sims, k, axis=1)[:, :k]
    return float(np.mean([np.intersect1d(e, idx[r]).size / k for e, r in zip(exact, pick, strict=True)]))


def real_graph(data, recall_rows: int) -> None:
    """The graph of the 60k lite0 pool: build time, recall, and each image's neighbours' label agreement."""
    X = np.ascontiguousarray(data.X_pool)
    graph.clear_cache()
    build, (idx, _) = timed(lambda: graph.neighbors(X))
    agree = float((data.y_pool[idx] == data.y_pool[:, None]).mean())
    print(f"graph build, Fashion-MNIST lite0 pool {X.shape[0]:,} x {X.shape[1]} (IVF, nprobe {graph.NPROBE}): "
          f"{build:.1f} s; recall of the exact {graph.N_NEIGHBORS} neighbours: {recall(X, idx, recall_rows):.3f}; "
          f"neighbours of the same class: {agree:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25000,50000,100000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recall-rows", type=int, default=500)
    parser.add_argument("--cache", type=Path, default=None, help="graph cache folder (default: a new temporary one)")
    parser.add_argument(
        "--lite0",
        action="store_true",
        help="also the graph of Fashion-MNIST's 60k lite0 embeddings (real data; needs the cache)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    data = None
    if args.lite0:  # from the user's cache of embeddings, before the graphs' cache is switched below
        from labelwise.loop.datasets import fashion_mnist

        data = fashion_mnist("lite0", 256)
    # A fresh cache unless --cache names one: with a cache of an earlier run, the graphs are read
    # from disk (the build times printed are then reads).
    os.environ["LABELWISE_CACHE"] = str(args.cache or tempfile.mkdtemp(prefix="bench-heads-"))
    with threadpool_limits(1):
        if data is not None:
            real_graph(data, args.recall_rows)
        builds = []
        for n in sizes:
            X, y = clustered(n, args.dim, args.classes, seed=n)
            graph.clear_cache()
            build, (idx, _) = timed(lambda X=X: graph.neighbors(X))
            builds.append(build)
            kind = "exact" if n <= graph.EXACT_LIMIT else f"IVF, nprobe {graph.NPROBE}"
            found = recall(X, idx, args.recall_rows)
            agree = float((y[idx] == y[:, None]).mean())
            print(f"graph build, {n:,} x {args.dim} ({kind}): {build:.1f} s; "
                  f"recall of the exact {graph.N_NEIGHBORS} neighbours: {found:.3f}; "
                  f"neighbours of the same cluster: {agree:.3f}")  # fmt: skip
        if len(sizes) > 1:
            slope = float(np.polyfit(np.log(sizes), np.log(builds), 1)[0])
            at_1m = builds[-1] * (1_000_000 / sizes[-1]) ** slope
            print(f"graph build grows as n^{slope:.2f}: about {at_1m:,.0f} s at 1,000,000 (extrapolated)")

        n = sizes[-1]
        X, y = clustered(n, args.dim, args.classes, seed=n)
        graph.clear_cache()
        reread, _ = timed(lambda: graph.neighbors(X))
        print(f"graph read back from disk, {n:,} rows: {reread:.2f} s")
        graph.normalized_graph(X)
        labels = np.full(n, -1)
        picked = np.random.default_rng(0).choice(n, args.labels, replace=False)
        labels[picked] = y[picked]
        classes = list(range(args.classes))
        fp, _ = timed(lambda: graph.fingerprint(X), args.repeats)
        retrain, head = timed(lambda: LabelSpreadingHead(classes=classes).fit(X, labels), args.repeats)
        accuracy = float((head.pool_proba_.argmax(axis=1) == y).mean())
        print(f"label-spreading retrain, {n:,} images, {graph.normalized_graph(X).nnz:,} edges, {args.labels} labels: "
              f"{retrain:.2f} s (of which the pool fingerprint {fp:.2f} s); pool accuracy {accuracy:.3f}")  # fmt: skip
        base, _ = timed(lambda: Head(classes=classes).fit(X[picked], y[picked]).predict_proba(X), args.repeats)
        print(f"baseline, logistic head fit + pool probabilities: {base:.2f} s; "
              f"label-spreading / logistic: {retrain / base:.1f}x")  # fmt: skip
        print(f"1,000,000 images, same sparsity: the spreading is linear in the edges, about "
              f"{retrain * 1_000_000 / n:.0f} s "
              f"(extrapolated from {n:,})")  # fmt: skip


if __name__ == "__main__":
    main()
