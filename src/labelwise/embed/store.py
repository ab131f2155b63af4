"""Embedding store: vectors keyed by content hash, memory-mapped, appendable and crash-safe.

Two append-only files: ``vectors.f32`` (rows of ``dim`` float32) and ``keys.bin`` (32-byte
content digests, one per row). A batch is appended to ``vectors.f32`` first and flushed, and only
then are its keys appended: a key on disk always has its vector. Killed at any point (SIGKILL
included), the store reopens at its last whole batch: torn tails and vectors without keys are cut
off at open, and the next ingest embeds those images again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelwise.errors import LabelwiseError

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
        meta = {"format": 1, "dim": dim, "dtype": "float32", "backbone": backbone}
        if self._meta_path.exists():
            found = json.loads(self._meta_path.read_text())
            if (found.get("dim"), found.get("backbone")) != (dim, backbone):
                raise LabelwiseError(
                    f"{self._meta_path}: holds {found.get('backbone')} vectors of dim {found.get('dim')}, "
                    f"not {backbone} of dim {dim}"
                )
        else:
            tmp = self._meta_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta))
            tmp.replace(self._meta_path)
        self._recover()
        # Sliced as raw bytes: numpy's "S32" would strip a digest's trailing zero bytes.
        raw = self._keys_path.read_bytes()
        self._index: dict[bytes, int] = {raw[i * KEY_BYTES : (i + 1) * KEY_BYTES]: i for i in range(self._count)}
        self._memmap: np.memmap | None = None

    @property
    def row_bytes(self) -> int:
        return self.dim * 4

    def _recover(self) -> None:
        """Cut both files back to the rows that have a key and a whole vector."""
        for path in (self._vectors_path, self._keys_path):
            path.touch(exist_ok=True)
        n_keys = self._keys_path.stat().st_size // KEY_BYTES
        n_vectors = self._vectors_path.stat().st_size // self.row_bytes
        self._count = min(n_keys, n_vectors)
        for path, size in ((self._keys_path, KEY_BYTES), (self._vectors_path, self.row_bytes)):
            if path.stat().st_size != self._count * size:
                os.truncate(path, self._count * size)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: str) -> bool:
        return bytes.fromhex(key) in self._index

    def nbytes(self) -> int:
        return self._count * (self.row_bytes + KEY_BYTES)

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> int:
        """Append the vectors whose hex keys are new; returns how many were added."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise LabelwiseError(f"vectors: expected shape ({len(keys)}, {self.dim}), got {vectors.shape}")
        fresh: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            raw = bytes.fromhex(key)
            if len(raw) != KEY_BYTES:
                raise LabelwiseError(f"key {key!r}: expected {KEY_BYTES} bytes of hex")
            if raw not in self._index and raw not in fresh:
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
        """All vectors, ``(len, dim)`` float32, memory-mapped read-only."""
        if self._count == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        if self._memmap is None or self._memmap.shape[0] != self._count:
            self._memmap = np.memmap(self._vectors_path, dtype=np.float32, mode="r", shape=(self._count, self.dim))
        return self._memmap

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """Row numbers of hex ``keys``; ``KeyError`` names the first missing one."""
        try:
            return np.fromiter((self._index[bytes.fromhex(k)] for k in keys), dtype=np.int64, count=len(keys))
        except KeyError as exc:
            missing = next(k for k in keys if bytes.fromhex(k) not in self._index)
            raise KeyError(f"no embedding for content hash {missing}") from exc

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """Vectors of hex ``keys`` in order, ``(len(keys), dim)`` float32 (a copy)."""
        return np.asarray(self.vectors()[self.rows(keys)])
