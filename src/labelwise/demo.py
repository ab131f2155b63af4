"""The built-in demo: a project of 10,000 unlabeled Fashion-MNIST pictures with the ten class names.

Built once in the user's cache (PNG files, then the usual ``init``), reused afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays
from labelwise.paths import cache_dir
from labelwise.project import Project

DEMO_SIZE = 10_000


def demo_folder() -> Path:
    return cache_dir() / "demo"


def write_demo_images(root: Path, n: int = DEMO_SIZE) -> Path:
    """Fashion-MNIST test pictures as PNG files, unlabeled (one flat folder, no class hints)."""
    _, _, test_x, _ = fashion_mnist_arrays()
    root.mkdir(parents=True, exist_ok=True)
    for i in range(min(n, len(test_x))):
        path = root / f"fashion-{i:05d}.png"
        if not path.exists():
            Image.fromarray(test_x[i]).save(path)
    return root


def build_demo_project(
    on_total: Callable[[int], None] | None = None, on_progress: Callable[[int], None] | None = None
) -> Path:
    """The demo project folder, created and ingested on first use; later calls only check it."""
    from labelwise.project.ingest import ingest_folder

    folder = demo_folder()
    images = write_demo_images(folder / "images")
    project_dir = folder / "project"
    if (project_dir / "labelwise.toml").exists():
        project = Project(project_dir)
    else:
        project = Project.create(project_dir, images, backbone="lite0")
        project.add_classes([name.replace("/", "-") for name in FASHION_MNIST_CLASSES])
    ingest_folder(project, on_total=on_total, on_progress=on_progress)  # resumes a half-built demo
    project.close()
    return project_dir
