"""Ingest on Ray against the local path, in the same run: images/s and the Ray overhead as a ratio.

Three ingests of the same folder (Fashion-MNIST PNGs and JPEG photos, as bench_ingest.py), each
into a fresh project, whole `ingest_folder` calls timed (scan, read, decode, embed, store,
database; with Ray also the actors' start and model load):

- local: the default path, threads of this process on all the machine's cores;
- Ray, 1 node: a head started with `ray start --head --num-cpus <cores>` (the same cores);
- Ray, 2 nodes: a head and a worker node, one CPU each (still the same cores, two raylets).

The target is Ray 1 node >= 0.8x local. The per-core rate (images/s per CPU Ray was given) is
what docs/ray.md scales to 10M images on N nodes. Ray is started and stopped by this script
(tests/project/ray_cluster.py), on loopback, in temp dirs of its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.project.ray_cluster
from _common import print_table
from bench_ingest import write_folder

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from tests.project.ray_cluster import start_cluster


def timed_ingest(work: Path, images: Path, backbone: str, name: str, address: str | None) -> tuple[float, int]:
    project = Project.create(work / name, images, backbone=backbone)
    reader = {}
    if address is not None:
        from labelwise.project.ray_ingest import ray_reader

        reader = {"reader": ray_reader(address)}
    start = time.perf_counter()
    report = ingest_folder(project, **reader)
    seconds = time.perf_counter() - start
    project.close()
    return seconds, report.embedded


def on_cluster(work: Path, images: Path, backbone: str, name: str, workers: int, cpus: int) -> tuple[float, int]:
    import ray

    from labelwise.project.ray_cluster import connect

    cluster = start_cluster(workers=workers, cpus=cpus)
    try:
        os.environ.update(cluster.auth)
        connect(cluster.address)
        return timed_ingest(work, images, backbone, name, cluster.address)
    finally:
        ray.shutdown()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--png", type=int, default=300)
    parser.add_argument("--jpeg", type=int, default=300)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="labelwise-bench-ray-"))
    try:
        images = write_folder(work / "images", args.png, args.jpeg)
        n = args.png + args.jpeg
        # Warm the backbone's one-time export (lite0: torch -> ONNX, cached) outside the timings.
        timed_ingest(work, write_folder(work / "warm", 8, 8), args.backbone, "warm", None)
        runs = [
            ("local (threads, all cores)", cores, *timed_ingest(work, images, args.backbone, "local", None)),
            (f"Ray, 1 node x {cores} CPUs", cores, *on_cluster(work, images, args.backbone, "ray1", 0, cores)),
            ("Ray, 2 nodes x 1 CPU", 2, *on_cluster(work, images, args.backbone, "ray2", 1, 1)),
        ]
        local_rate = n / runs[0][2]
        rows = []
        for name, cpus, seconds, embedded in runs:
            # the same distinct contents embedded (two random JPEG crops may coincide)
            assert embedded == runs[0][3], f"{name}: embedded {embedded}, local {runs[0][3]}"
            rate = n / seconds
            rows.append([name, f"{seconds:.1f}", f"{rate:.1f}", f"{rate / cpus:.1f}", f"{rate / local_rate:.2f}x"])
        print(f"{n} images ({args.png} PNG 28x28, {args.jpeg} JPEG 400x300), backbone {args.backbone}, {cores} cores")
        print_table(["path", "seconds", "images/s", "images/s per CPU", "vs local"], rows)
        one_node = (n / runs[1][2]) / local_rate
        print(f"Ray 1 node / local: {one_node:.2f}x (target >= 0.8x: {'met' if one_node >= 0.8 else 'NOT met'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
