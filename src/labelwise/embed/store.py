"""Embedding store: vectors keyed by content hash, memory-mapped, appendable and crash-safe.

Two append-only files: ``vectors.f32`` (rows of ``dim`` float32) and ``keys.bin`` (32-byte
content digests, one per row). A batch is appended to ``vectors.f32`` first and flushed, and only
then are its keys appended: a key on disk always has its vector.

Readers never change the files: they see the rows up to the last whole key (a vector without
its key yet is another process's batch in flight, not damage). Writers append under an exclusive
lock on ``write.lock``; holding it, a writer first catches up with the rows other writers added
and only then cuts torn tails (a vector without a key, half a key) left by a writer that died.
So a store killed at any point (SIGKILL included) reopens at its last whole batch, and two
processes writing at once each append whole rows after the other's.

A key may appear more than once (a repair appends a corrected vector): the last row wins.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from labelwise.errors import LabelwiseError, MissingEmbeddingError
from labelwise.paths import atomic_write

KEY_BYTES = 32


class EmbeddingStore:
    """Open (or create) the store in ``folder`` for vectors of ``dim`` from ``backbone``."""

    def __init__(self, folder: str | Path, dim: int, backbone: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dim, self.backbone = dim, backbone
        self._meta_path = self.folder / "meta.json"
        self._vectors_path = self.folder / "vectors.f32"
        self._keys_path = self.folder / "keys.bin"
        self._lock_path = self.folder / "write.lock"
        meta = {"format": 1, "dim": dim, "dtype": "float32", "backbone": backbone}
        if self._meta_path.exists():
            found = json.loads(self._meta_path.read_text())
            if (found.get("dim"), found.get("backbone")) != (dim, backbone):
                raise LabelwiseError(
                    f"{self._meta_path}: holds {found.get('backbone')} vectors of dim {found.get('dim')}, "
                    f"not {backbone} of dim {dim}"
                )
        else:
            atomic_write(self._meta_path, lambda file: file.write(json.dumps(meta).encode()))
        for path in (self._vectors_path, self._keys_path):
            path.touch(exist_ok=True)
        self._count = 0
        self._index: dict[bytes, int] = {}
        self._memmap: np.memmap | None = None
        self.refresh()

    @property
    def row_bytes(self) -> int:
        return self.dim * 4

    def _whole_rows(self) -> int:
        """Rows that have a whole key and a whole vector. Keys are read first: vectors only grow
        before their keys, so every key counted here has its vector on disk."""
        n_keys = self._keys_path.stat().st_size // KEY_BYTES
        n_vectors = self._vectors_path.stat().st_size // self.row_bytes
        return min(n_keys, n_vectors)

    def refresh(self) -> int:
        """Take in the rows other processes appended since this store was opened; returns how many.
        Reads only: nothing on disk is changed."""
        n = self._whole_rows()
        if n <= self._count:
            return 0
        with open(self._keys_path, "rb") as f:
            f.seek(self._count * KEY_BYTES)
            raw = f.read((n - self._count) * KEY_BYTES)
        n = self._count + len(raw) // KEY_BYTES
        # Sliced as raw bytes: numpy's "S32" would strip a digest's trailing zero bytes.
        for i in range(n - self._count):
            self._index[raw[i * KEY_BYTES : (i + 1) * KEY_BYTES]] = self._count + i
        added, self._count = n - self._count, n
        return added

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the store's write lock, caught up with other writers and with torn tails cut."""
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                self.refresh()
                # Under the lock nobody else is appending: anything past the last whole row is a tail
                # torn by a writer that died, and is cut before appending after it.
                for path, size in ((self._keys_path, KEY_BYTES), (self._vectors_path, self.row_bytes)):
                    if path.stat().st_size != self._count * size:
                        os.truncate(path, self._count * size)
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: str) -> bool:
        return bytes.fromhex(key) in self._index

    def keys(self) -> list[str]:
        """The distinct hex keys of the store."""
        return [raw.hex() for raw in self._index]

    def nbytes(self) -> int:
        return self._count * (self.row_bytes + KEY_BYTES)

    def add(self, keys: Sequence[str], vectors: np.ndarray, *, replace: bool = False) -> int:
        """Append the vectors whose hex keys are new (all of them with ``replace``: the new row then
        supersedes the old one); returns how many were appended."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise LabelwiseError(f"vectors: expected shape ({len(keys)}, {self.dim}), got {vectors.shape}")
        raws = []
        for key in keys:
            raw = bytes.fromhex(key)
            if len(raw) != KEY_BYTES:
                raise LabelwiseError(f"key {key!r}: expected {KEY_BYTES} bytes of hex")
            raws.append(raw)
        with self._writing():
            fresh: dict[bytes, int] = {}
            for i, raw in enumerate(raws):
                if (replace or raw not in self._index) and raw not in fresh:
                    fresh[raw] = i
            if not fresh:
                return 0
            rows = np.ascontiguousarray(vectors[list(fresh.values())])
            with open(self._vectors_path, "ab") as f:
                f.write(rows.tobytes())
                f.flush()
                os.fsync(f.fileno())
            with open(self._keys_path, "ab") as f:
                f.write(b"".join(fresh))
                f.flush()
                os.fsync(f.fileno())
            for raw in fresh:
                self._index[raw] = self._count
                self._count += 1
        self._memmap = None
        return len(fresh)

    def vectors(self) -> np.ndarray:
        """All rows, ``(len, dim)`` float32, memory-mapped read-only (superseded rows included)."""
        if self._count == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        if self._memmap is None or self._memmap.shape[0] != self._count:
            self._memmap = np.memmap(self._vectors_path, dtype=np.float32, mode="r", shape=(self._count, self.dim))
        return self._memmap

    def map_rows(self) -> tuple[str, int]:
        """(path of the vectors file, whole rows now): what :func:`read_rows` needs in another process."""
        return str(self._vectors_path), self._count

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """Row numbers of hex ``keys``; ``MissingEmbeddingError`` (a ``KeyError``) names the first missing one."""
        if any(bytes.fromhex(k) not in self._index for k in keys):
            self.refresh()  # written by another process since this store was opened
        try:
            return np.fromiter((self._index[bytes.fromhex(k)] for k in keys), dtype=np.int64, count=len(keys))
        except KeyError as exc:
            missing = next(k for k in keys if bytes.fromhex(k) not in self._index)
            raise MissingEmbeddingError(missing) from exc

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """Vectors of hex ``keys`` in order, ``(len(keys), dim)`` float32 (a copy)."""
        rows = self.rows(keys)  # first: it may take in rows written since, which vectors() then maps
        return np.asarray(self.vectors()[rows])

    def lazy(self, keys: Sequence[str]) -> StoredRows:
        """The vectors of hex ``keys`` without reading them: rows are read when indexed, so a whole pool can
        be projected block by block instead of being copied into memory first."""
        return StoredRows(self, self.rows(keys))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of store rows ``rows``, ``(len(rows), dim)`` float32. A run of consecutive rows (how a
        pool is stored when it was ingested in order) is read from the file, which leaves it in the page
        cache but not in this process's memory map; other rows through the map."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and rows[-1] - rows[0] + 1 == rows.size and np.all(np.diff(rows) == 1):
            with open(self._vectors_path, "rb") as f:
                f.seek(int(rows[0]) * self.row_bytes)
                flat = np.fromfile(f, dtype=np.float32, count=rows.size * self.dim)
            return flat.reshape(rows.size, self.dim)
        return np.asarray(self.vectors()[rows])

    def duplicate_keys(self) -> int:
        """Rows whose key appears again later (superseded by a repair, or written twice)."""
        return self._count - len(self._index)


class StoredRows:
    """Rows of a store, read when indexed (by a slice or an index array): ``shape`` ``(n, dim)``."""

    def __init__(self, store: EmbeddingStore, rows: np.ndarray) -> None:
        self.store, self.store_rows = store, rows
        self.shape = (rows.size, store.dim)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        return self.store.read(self.store_rows[index])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def read_rows(vectors_path: str, dim: int, count: int, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of a store's vectors file, read-only, in a process that does not open the store
    (a Ray worker scoring a shard): ``(len(rows), dim)`` float32."""
    vectors = np.memmap(vectors_path, dtype=np.float32, mode="r", shape=(count, dim))
    return np.asarray(vectors[np.asarray(rows, dtype=np.int64)])
