"""Bring your own embeddings (issue 12): how long a 100k x 768 file takes to import.

Writes random float32 vectors with paths as Parquet (list<float> column) and as NPZ, then times
``read_user_embeddings`` (read and check every row) and the store write of all vectors under content
keys (what ``init --embeddings`` does besides hashing the image files, which ingest reads anyway).
Baseline in the same run: a bare ``np.load`` of the NPZ arrays, the least any import can cost.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table

from labelwise.embed.store import EmbeddingStore
from labelwise.embed.user_vectors import read_user_embeddings


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    paths = [f"class{i % 10}/img{i:07d}.png" for i in range(args.n)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        offsets = pa.array(np.arange(0, (args.n + 1) * args.dim, args.dim, dtype=np.int32))
        column = pa.ListArray.from_arrays(offsets, pa.array(vectors.ravel()))  # list<float>, as exports write
        pq.write_table(pa.table({"path": paths, "vector": column}), tmp / "v.parquet")
        np.savez(tmp / "v.npz", paths=np.array(paths), vectors=vectors)
        _, bare = timed(lambda: np.load(tmp / "v.npz")["vectors"].sum())
        for name in ("v.parquet", "v.npz"):
            got, seconds = timed(lambda name=name: read_user_embeddings(tmp / name))
            assert len(got.paths) == args.n and not got.errors
            rows.append([name, f"{(tmp / name).stat().st_size / 2**20:.0f}", f"{seconds:.1f}"])
        keys = [hashlib.blake2b(p.encode(), digest_size=32).hexdigest() for p in paths]
        store = EmbeddingStore(tmp / "store", args.dim, "user")
        _, store_s = timed(lambda: store.add(keys, got.vectors))
    print(f"{args.n:,} x {args.dim} float32 vectors")
    print_table(["file", "MiB", "read + check (s)"], rows)
    print(f"store write of all vectors: {store_s:.1f} s; baseline np.load of the NPZ arrays: {bare:.1f} s")


if __name__ == "__main__":
    main()
