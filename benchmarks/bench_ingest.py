"""Ingest speed: each backbone alone against the whole pipeline, re-ingest time, store bytes per image.

The pipeline (read, hash, decode, resize in threads; embed; store; database) runs on a folder of
2,000 real files: 1,000 Fashion-MNIST PNGs and 1,000 JPEG photos cut from scikit-learn's sample
images. The figure is pipeline img/s over backbone-alone img/s, both measured in this run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table

from labelwise.embed import get_backbone
from labelwise.loop.datasets import fashion_mnist_arrays
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder


def write_folder(root: Path, n_png: int, n_jpeg: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    train_x, *_ = fashion_mnist_arrays()
    (root / "png").mkdir(parents=True)
    for i in range(n_png):
        Image.fromarray(train_x[i]).save(root / "png" / f"{i:05d}.png")
    (root / "jpeg").mkdir()
    photos = load_sample_images().images
    for i in range(n_jpeg):
        img = photos[i % 2]
        y, x = rng.integers(0, 427 - 300), rng.integers(0, 640 - 400)
        Image.fromarray(img[y : y + 300, x : x + 400]).save(root / "jpeg" / f"{i:05d}.jpg", quality=90)
    return root


def backbone_alone(name: str, n: int = 512) -> float:
    net = get_backbone(name)
    batch = np.random.default_rng(0).integers(0, 256, (64, net.input_size, net.input_size, 3), dtype=np.uint8)
    net.embed(batch)  # warm up: session creation, first-run allocations
    start = time.perf_counter()
    for _ in range(n // 64):
        net.embed(batch)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbones", default="squeezenet,lite0")
    parser.add_argument("--reingest-files", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labelwise-bench-"))
    try:
        folder = write_folder(work / "images", 1000, 1000)
        rows = []
        for name in args.backbones.split(","):
            alone = backbone_alone(name)
            project = Project.create(work / f"project-{name}", folder, backbone=name)
            project.backbone.embed(np.zeros((1, project.backbone.input_size, project.backbone.input_size, 3), np.uint8))
            start = time.perf_counter()
            report = ingest_folder(project)
            seconds = time.perf_counter() - start
            pipeline = report.embedded / seconds
            store_bytes = project.store.nbytes() / len(project.store)
            rows.append([name, f"{alone:.0f}", f"{pipeline:.0f}", f"{pipeline / alone:.2f}", f"{store_bytes:,.0f}"])
        print("Backbone alone (onnxruntime on ready uint8 batches of 64) against the whole ingest pipeline")
        print("on 2,000 real files (1,000 PNG 28x28, 1,000 JPEG 400x300)")
        print_table(["backbone", "alone img/s", "pipeline img/s", "ratio", "store bytes/img"], rows)

        big = write_folder(work / "many", args.reingest_files, 0, seed=1)
        project = Project.create(work / "project-many", big, backbone="squeezenet")
        start = time.perf_counter()
        first = ingest_folder(project)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = ingest_folder(project)
        again_s = time.perf_counter() - start
        print()
        print(f"Re-ingest of an already-ingested folder of {args.reingest_files:,} files (squeezenet)")
        print_table(
            ["run", "seconds", "embedded", "files/s"],
            [
                ["first ingest", f"{first_s:.1f}", str(first.embedded), f"{args.reingest_files / first_s:,.0f}"],
                ["re-ingest", f"{again_s:.2f}", str(again.embedded), f"{args.reingest_files / again_s:,.0f}"],
            ],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
