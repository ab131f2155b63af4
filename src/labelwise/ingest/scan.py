"""Find image files under a folder, recursively, without being trapped by symlink loops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
# The server serves only files whose real path lies in the images folder; ingest applies the same rule.
OUTSIDE = "outside the images folder"


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


def scan_images(root: str | Path, boundary: str | Path | None = None) -> Iterator[FoundFile]:
    """Image files under ``root`` in a stable (sorted) order.

    A symlink never shadows a real path: links (to folders or files) are looked at only after
    every real folder was walked, and a link whose target lies inside ``root`` is skipped, since
    the target itself is found under its real path (this also ends symlink loops). Links to
    places outside ``root`` are followed, each real directory entered once, unless they also lead
    out of ``boundary`` (a project's images folder): such a link is reported with the error
    ``OUTSIDE`` (a folder once, its rel ending with ``/``), since the server refuses to serve a
    file outside the images folder, so it must not be queued either.
    Unreadable directories are reported as a ``FoundFile`` with an error (rel ends with ``/``).
    """
    root = Path(root)
    real_root = root.resolve()
    real_boundary = Path(boundary).resolve() if boundary is not None else None
    seen_dirs: set[tuple[int, int]] = set()
    links: list[Path] = []

    def inside_root(path: Path) -> bool:
        try:
            path.resolve(strict=True).relative_to(real_root)
        except (ValueError, OSError, RuntimeError):
            return False
        return True

    def walk(directory: Path, follow: bool) -> Iterator[FoundFile]:
        try:
            st = directory.stat()
        except OSError as exc:
            yield FoundFile(directory, _rel(root, directory) + "/", None, None, f"cannot open folder: {exc.strerror}")
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            return  # a folder reached again through a link
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            yield FoundFile(directory, _rel(root, directory) + "/", None, None, f"cannot list folder: {exc.strerror}")
            return
        for entry in entries:
            path = Path(entry.path)
            if not follow and entry.is_symlink():
                links.append(path)
                continue
            yield from _visit(entry, path, follow)

    def _visit(entry: os.DirEntry | None, path: Path, follow: bool) -> Iterator[FoundFile]:
        try:
            is_dir = entry.is_dir(follow_symlinks=True) if entry is not None else path.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            yield from walk(path, follow)
            return
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return
        try:
            st = entry.stat(follow_symlinks=True) if entry is not None else path.stat()
        except OSError as exc:
            yield FoundFile(path, _rel(root, path), None, None, f"cannot stat: {exc.strerror}")
            return
        yield FoundFile(path, _rel(root, path), st.st_size, st.st_mtime_ns)

    yield from walk(root, follow=False)
    for link in sorted(links, key=lambda p: _rel(root, p).split("/")):
        if inside_root(link):
            continue
        try:
            target = link.resolve(strict=True)
        except (OSError, RuntimeError):
            yield from _visit(None, link, follow=True)  # dangling or a loop: "cannot stat"
            continue
        if real_boundary is None or target.is_relative_to(real_boundary):
            yield from _visit(None, link, follow=True)
        elif target.is_dir():
            yield FoundFile(link, _rel(root, link) + "/", None, None, OUTSIDE)
        elif link.suffix.lower() in IMAGE_EXTENSIONS:
            yield FoundFile(link, _rel(root, link), None, None, OUTSIDE)


def _rel(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel
