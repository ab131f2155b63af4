"""Ingest on Ray against the local path, in the same run: images/s and the Ray overhead as a ratio.

Three ingests of the same folder (Fashion-MNIST PNGs and JPEG photos, as bench_ingest.py), each
into a fresh project, whole `ingest_folder` calls timed (scan, read, decode, embed, store,
database; with Ray also the actors' start and model load):

- local: the default path, threads of this process on all the machine's cores;
- Ray, 1 node: a head started with `ray start --head --num-cpus <cores>` (the same cores);
- Ray, 2 nodes: a head and a worker node, one CPU each (still the same cores, two raylets).

With ``--two-stage`` the one-node cluster also runs the earlier two-stage form (read tasks, then
backbone actors; ``ray_reader(fused=False)``) right after the fused one, on the same cluster, as
the baseline of the change. ``--runs N`` repeats everything N times and prints every run with the
load average (the machine this was measured on is shared).

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


def timed_ingest(
    work: Path, images: Path, backbone: str, name: str, address: str | None, fused: bool = True
) -> tuple[float, int]:
    project = Project.create(work / name, images, backbone=backbone)
    reader = {}
    if address is not None:
        from labelwise.project.ray_ingest import ray_reader

        reader = {"reader": ray_reader(address, fused=fused)}
    start = time.perf_counter()
    report = ingest_folder(project, **reader)
    seconds = time.perf_counter() - start
    project.close()
    return seconds, report.embedded


def on_cluster(
    work: Path, images: Path, backbone: str, name: str, workers: int, cpus: int, forms: tuple[bool, ...] = (True,)
) -> list[tuple[float, int]]:
    """One ingest per form (fused or not) on one cluster started for them, each into a fresh project."""
    import ray

    from labelwise.project.ray_cluster import connect

    cluster = start_cluster(workers=workers, cpus=cpus)
    try:
        os.environ.update(cluster.auth)
        connect(cluster.address)
        return [timed_ingest(work, images, backbone, f"{name}-{k}", cluster.address, f) for k, f in enumerate(forms)]
    finally:
        ray.shutdown()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--png", type=int, default=300)
    parser.add_argument("--jpeg", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--fixed-cost", action="store_true", help="only: 16 images then the folder, local and on Ray")
    parser.add_argument("--two-stage", action="store_true", help="also the earlier two-stage Ray form (baseline)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="labelwise-bench-ray-"))
    try:
        images = write_folder(work / "images", args.png, args.jpeg)
        n = args.png + args.jpeg
        # Warm the backbone's one-time export (lite0: torch -> ONNX, cached) outside the timings.
        timed_ingest(work, write_folder(work / "warm", 8, 8), args.backbone, "warm", None)
        if args.fixed_cost:
            fixed_cost(work, images, args.backbone)
            return
        summary = []
        for run in range(1, args.runs + 1):
            load_before = _load()
            runs = [
                ("local (threads, all cores)", cores, *timed_ingest(work, images, args.backbone, f"local{run}", None))
            ]
            forms = (True, False) if args.two_stage else (True,)
            names = [f"Ray, 1 node x {cores} CPUs", f"Ray, 1 node x {cores} CPUs, two-stage (before)"]
            results = on_cluster(work, images, args.backbone, f"ray1-{run}", 0, cores, forms)
            for name, result in zip(names[: len(results)], results, strict=True):
                runs.append((name, cores, *result))
            runs.append(("Ray, 2 nodes x 1 CPU", 2, *on_cluster(work, images, args.backbone, f"ray2-{run}", 1, 1)[0]))
            local_rate = n / runs[0][2]
            rows = []
            for name, cpus, seconds, embedded in runs:
                # the same distinct contents embedded (two random JPEG crops may coincide)
                assert embedded == runs[0][3], f"{name}: embedded {embedded}, local {runs[0][3]}"
                rate = n / seconds
                rows.append([name, f"{seconds:.1f}", f"{rate:.1f}", f"{rate / cpus:.1f}", f"{rate / local_rate:.2f}x"])
            print(f"\nrun {run}: {n} images ({args.png} PNG 28x28, {args.jpeg} JPEG 400x300), backbone "
                  f"{args.backbone}, {cores} cores; load average before {load_before}, after {_load()}")  # fmt: skip
            print_table(["path", "seconds", "images/s", "images/s per CPU", "vs local"], rows)
            sys.stdout.flush()
            summary.append([f"{(n / r[2]) / local_rate:.2f}x" for r in runs[1:]])
        print("\nvs local, every run: " + "; ".join(", ".join(r) for r in summary))
        one_node = [float(r[0][:-1]) for r in summary]
        print(f"Ray 1 node / local: {', '.join(f'{x:.2f}x' for x in one_node)} (target >= 0.8x: "
              f"met in {sum(x >= 0.8 for x in one_node)} of {len(one_node)} runs)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fixed_cost(work: Path, images: Path, backbone: str) -> None:
    """What a Ray ingest costs whatever its size: 16 images twice on one fresh 1-node cluster (the
    second call finds its worker processes started), then the whole folder; the local path alike."""
    import ray

    from labelwise.project.ray_cluster import connect

    small = write_folder(work / "small", 8, 8)
    print(f"load average {_load()}")
    print(f"local, 16 images: {timed_ingest(work, small, backbone, 'l16', None)[0]:.1f} s")
    print(f"local, whole folder: {timed_ingest(work, images, backbone, 'lall', None)[0]:.1f} s")
    cluster = start_cluster(workers=0, cpus=os.cpu_count() or 1)
    try:
        os.environ.update(cluster.auth)
        connect(cluster.address)
        for name, folder in (("16 images, first", small), ("16 images, again", small), ("whole folder", images)):
            seconds = timed_ingest(work, folder, backbone, name.replace(" ", "").replace(",", ""), cluster.address)[0]
            print(f"Ray 1 node, {name}: {seconds:.1f} s", flush=True)
    finally:
        ray.shutdown()
        cluster.stop()
    print(f"load average {_load()}")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
