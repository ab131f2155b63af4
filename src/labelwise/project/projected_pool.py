"""The projected pool on disk: every ok image's PCA projection, float32, memory-mapped.

Projecting a million 512-d vectors was the largest part of the first ranking of a fresh 1M project
(203 of 415 s in a profile on the loaded machine). The training process projects each image once per
projection fit and appends it here; a retrain, a restart of the server or a fold-in of new images maps
the file (``np.memmap``, read-only) instead of projecting again, and keeps 1 GB (1M x 256) out of its
anonymous memory: the pages live in the page cache, which the kernel may drop and read back.

The projection itself is unchanged (:func:`labelwise.embed.projection.apply_pca`: accumulated in
float64, rounded once to float32), so a row's stored projection is the same bits as a row projected
alone (the Ray parity).

Layout, in ``models/``: ``projected_pool.f32`` (rows of ``k`` float32, in the order of
``image_ids``) and ``projected_pool.npz`` (``image_ids``, ``digest`` of the projection, ``k``), the
index written (atomically) after its rows are on disk, so a crash between the two leaves rows past the
index that the next write cuts off. One writer: the server's training process.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from labelwise.embed.projection import BLOCK_ROWS, Projection
from labelwise.paths import atomic_write

DATA, INDEX = "projected_pool.f32", "projected_pool.npz"


def projection_digest(projection: Projection) -> str:
    """Names one fitted projection: rows stored under another are not reused."""
    h = hashlib.blake2b(digest_size=16)
    for part in (projection.mean, projection.components):
        h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    return h.hexdigest()


def projected_pool(
    folder: Path, image_ids: np.ndarray, vectors, projection: Projection, first: int = 0
) -> np.ndarray | None:
    """``(N, k)`` float32 projection of the rows of ``image_ids`` (ascending), memory-mapped.

    Rows already stored under the same projection are read from disk (whatever images joined or left
    the pool since); the others are projected in blocks and written. ``vectors``: the stored vectors of
    ``image_ids[first:]`` (an array or a store's lazy rows, read block by block, only those that need
    projecting). None when a row before ``first`` is not on disk (the caller projects as before).
    """
    folder.mkdir(parents=True, exist_ok=True)
    data, index = folder / DATA, folder / INDEX
    digest, k = projection_digest(projection), projection.components.shape[0]
    stored_ids = _stored_ids(index, digest, k, data)
    n = image_ids.size
    if (
        stored_ids is not None
        and first <= stored_ids.size <= n
        and np.array_equal(stored_ids, image_ids[: stored_ids.size])
    ):
        _append(data, index, image_ids, _From(vectors, first), projection, digest, start=stored_ids.size)  # grown only
    elif first == 0:
        _rewrite(data, index, image_ids, vectors, projection, digest, stored_ids)
    else:
        return None
    if n == 0:
        return np.empty((0, k), dtype=np.float32)
    return np.memmap(data, dtype=np.float32, mode="r", shape=(n, k))


def _stored_ids(index: Path, digest: str, k: int, data: Path) -> np.ndarray | None:
    """The ids whose rows are on disk under this projection, or None (none, another projection, damaged)."""
    try:
        saved = np.load(index)
        ids, same = saved["image_ids"], str(saved["digest"]) == digest and int(saved["k"]) == k
    except (OSError, ValueError, KeyError):
        return None
    if not same or not data.exists() or data.stat().st_size < ids.size * k * 4:
        return None
    return ids


class _From:
    """``vectors`` (rows ``first:`` of the pool) indexed by pool position."""

    def __init__(self, vectors, first: int) -> None:
        self.vectors, self.first = vectors, first

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.vectors[rows.start - self.first : rows.stop - self.first]


def _write_index(index: Path, image_ids: np.ndarray, digest: str, k: int) -> None:
    atomic_write(index, lambda file: np.savez(file, image_ids=image_ids, digest=digest, k=k))


def _append(data, index, image_ids, vectors, projection, digest, start: int) -> None:
    k = projection.components.shape[0]
    if start == image_ids.size and data.stat().st_size == start * k * 4:
        return
    with open(data, "r+b") as file:
        file.truncate(start * k * 4)  # rows past the index: a write that crashed before its index
        file.seek(start * k * 4)
        for at in range(start, image_ids.size, BLOCK_ROWS):
            file.write(projection.apply(vectors[at : at + BLOCK_ROWS]).tobytes())
        file.flush()
        os.fsync(file.fileno())
    _write_index(index, image_ids, digest, k)


def _rewrite(data, index, image_ids, vectors, projection, digest, stored_ids) -> None:
    """A new file of ``image_ids``' rows: copied from the old file where it has them, projected otherwise."""
    k = projection.components.shape[0]
    old = None
    if stored_ids is not None and stored_ids.size:
        old = np.memmap(data, dtype=np.float32, mode="r", shape=(stored_ids.size, k))
    tmp = data.with_name(f".{data.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as file:
            for at in range(0, image_ids.size, BLOCK_ROWS):
                ids = image_ids[at : at + BLOCK_ROWS]
                rows = np.empty((ids.size, k), dtype=np.float32)
                have = np.zeros(ids.size, dtype=bool)
                if old is not None:
                    where = np.minimum(np.searchsorted(stored_ids, ids), stored_ids.size - 1)
                    have = stored_ids[where] == ids
                    rows[have] = old[where[have]]
                if not have.all():
                    missing = np.flatnonzero(~have) + at
                    rows[~have] = projection.apply(vectors[missing])
                file.write(rows.tobytes())
            file.flush()
            os.fsync(file.fileno())
        del old
        os.replace(tmp, data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_index(index, image_ids, digest, k)
