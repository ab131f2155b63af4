"""Find image files under a folder, recursively, without being trapped by symlink loops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


@dataclass(frozen=True)
class FoundFile:
    """A candidate image: its absolute path, its path relative to the root (POSIX), and stat data.

    ``error`` is set when the file cannot even be looked at (a dangling link, no permission).
    """

    path: Path
    rel: str
    size: int | None
    mtime_ns: int | None
    error: str | None = None


def scan_images(root: str | Path) -> Iterator[FoundFile]:
    """Image files under ``root`` in a stable (sorted) order.

    Directory symlinks are followed, but each real directory is entered once, so a loop ends.
    Unreadable directories are reported as a ``FoundFile`` with an error (rel ends with ``/``).
    """
    root = Path(root)
    seen_dirs: set[tuple[int, int]] = set()

    def walk(directory: Path) -> Iterator[FoundFile]:
        try:
            st = directory.stat()
        except OSError as exc:
            yield FoundFile(directory, _rel(root, directory) + "/", None, None, f"cannot open folder: {exc.strerror}")
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            return  # a symlink back to a folder already scanned
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            yield FoundFile(directory, _rel(root, directory) + "/", None, None, f"cannot list folder: {exc.strerror}")
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                yield from walk(path)
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                yield FoundFile(path, _rel(root, path), None, None, f"cannot stat: {exc.strerror}")
                continue
            yield FoundFile(path, _rel(root, path), st.st_size, st.st_mtime_ns)

    yield from walk(root)


def _rel(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel
