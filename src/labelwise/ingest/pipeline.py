"""Read, hash, decode and prepare files in worker threads, in order, with bounded memory.

Decoding and resizing release the GIL in Pillow, so they run in parallel with inference in the
caller's thread: the pipeline should not be much slower than the backbone alone.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from labelwise.ingest.decode import DEFAULT_MAX_PIXELS, BrokenImageError, decode_image, open_image
from labelwise.ingest.scan import FoundFile

Prepare = Callable[[Image.Image], np.ndarray]


def content_hash(data: bytes) -> str:
    """BLAKE2b-256 of the bytes, hex: byte-identical files share it, and it keys the embeddings."""
    return hashlib.blake2b(data, digest_size=32).hexdigest()


@dataclass
class ReadFile:
    """One file after reading: ``pixels`` is the backbone-ready array, or ``None`` when the image is
    broken or its content is already embedded (``known``). ``embedding`` is the vector when the
    reader embedded the pixels itself (a distributed reader embeds where it decodes)."""

    found: FoundFile
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    reason: str | None = None
    pixels: np.ndarray | None = None
    known: bool = False
    embedding: np.ndarray | None = None

    @property
    def fresh(self) -> bool:
        """New content to store: decoded pixels or an embedding."""
        return self.pixels is not None or self.embedding is not None

    @property
    def broken(self) -> bool:
        return self.reason is not None


def read_file(
    found: FoundFile,
    prepare: Prepare,
    draft_size: int,
    is_known: Callable[[str], bool],
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ReadFile:
    if found.error:
        return ReadFile(found, reason=found.error)
    try:
        data = found.path.read_bytes()
    except OSError as exc:
        return ReadFile(found, reason=f"cannot read: {exc.strerror or exc}")
    digest = content_hash(data)
    try:
        if is_known(digest):
            # Embedded already: the header gives the size, no decode needed.
            image = open_image(data, max_pixels)
            return ReadFile(found, digest, *_oriented_size(image), known=True)
        image = decode_image(data, max_pixels, draft_size=draft_size)
        return ReadFile(found, digest, image.width, image.height, pixels=prepare(image))
    except BrokenImageError as exc:
        return ReadFile(found, digest, reason=exc.reason)


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_files(
    files: Iterable[FoundFile],
    prepare: Prepare,
    draft_size: int,
    is_known: Callable[[str], bool],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    prefetch: int = 256,
) -> Iterator[ReadFile]:
    """``read_file`` over ``files`` in worker threads; results in input order, at most ``prefetch`` ahead."""
    pending: deque[Future[ReadFile]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labelwise-decode") as pool:
        for found in files:
            pending.append(pool.submit(read_file, found, prepare, draft_size, is_known, max_pixels))
            if len(pending) >= prefetch:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
