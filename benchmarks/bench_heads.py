"""Cost of the semi-supervised heads (issue 14): a label-spreading retrain on a 100k pool.

The kNN graph is label-independent, so it is built once per pool; a retrain then costs the pool's
fingerprint (to find the cached graph) plus the spreading (sparse products). This prints:

1. the graph build, measured on ``--graph-n`` images (exact neighbours, scikit-learn brute force;
   quadratic in N, so measured on a part and extrapolated as N^2);
2. a retrain at ``--n`` images on a graph of the same sparsity (k random neighbours within a
   row's cluster, symmetrised: the spreading's cost depends on the number of edges, not on which);
3. the baseline measured in the same run: the logistic head's fit and its probabilities for the pool.

Synthetic clustered embeddings (``--dim`` dimensions, ``--classes`` clusters), 1 BLAS thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from labelwise.learn import Head
from labelwise.learn.graph import N_NEIGHBORS, fingerprint, normalized_graph
from labelwise.learn.semi import LabelSpreadingHead, spread


def clustered(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centers = rng.normal(size=(k, d)).astype(np.float32)
    return centers[y] + rng.normal(scale=1.5, size=(n, d)).astype(np.float32), y


def same_sparsity_graph(y: np.ndarray, k: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    n = y.size
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], y)
    sizes = np.bincount(y)[y]
    idx = order[starts[:, None] + rng.integers(0, sizes[:, None], (n, k))]
    W = sp.csr_matrix((np.ones(n * k), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    W = ((W + W.T) * 0.5).tocsr()
    inv = 1.0 / np.sqrt(np.asarray(W.sum(axis=1)).ravel())
    return sp.diags(inv) @ W @ sp.diags(inv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--graph-n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--labels", type=int, default=500)
    args = parser.parse_args()
    with threadpool_limits(1):
        Xg, _ = clustered(args.graph_n, args.dim, args.classes, seed=1)
        start = time.perf_counter()
        normalized_graph(Xg)
        build = time.perf_counter() - start
        at_n = build * (args.n / args.graph_n) ** 2
        print(f"graph build, {args.graph_n:,} x {args.dim}: {build:.1f} s "
              f"(brute force is quadratic: about {at_n:,.0f} s at {args.n:,})")  # fmt: skip

        X, y = clustered(args.n, args.dim, args.classes)
        labeled = np.random.default_rng(0).choice(args.n, args.labels, replace=False)
        S = same_sparsity_graph(y, N_NEIGHBORS)
        head = LabelSpreadingHead(classes=list(range(args.classes)))
        Y = np.zeros((args.n, args.classes))
        Y[labeled, y[labeled]] = 1.0
        start = time.perf_counter()
        fingerprint(X)
        hashed = time.perf_counter() - start
        F = spread(S, Y, head.alpha, head.max_iter, head.tol)
        F / np.maximum(F.sum(axis=1, keepdims=True), 1e-12)
        retrain = time.perf_counter() - start
        print(f"label-spreading retrain, {args.n:,} images, {S.nnz:,} edges, {args.labels} labels: {retrain:.2f} s "
              f"(of which the pool fingerprint {hashed:.2f} s; conjugate gradients)")  # fmt: skip

        start = time.perf_counter()
        Head(classes=list(range(args.classes))).fit(X[labeled], y[labeled]).predict_proba(X)
        print(f"baseline, logistic head fit + pool probabilities: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
