"""Bring your own embeddings: the user's vectors (path -> vector, any dimension) in place of a backbone.

The file is Parquet (a ``path`` column and a ``vector``/``embedding`` column of float lists) or NPZ
(arrays ``paths`` (n,) of strings and ``vectors`` (n, d)). Every row is checked; a bad row is refused
with its row number and reason, never silently mended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from labelwise.embed.backbone import squash_resize
from labelwise.errors import LabelwiseError

USER_BACKBONE = "user"
PATH_COLUMNS = ("path", "paths", "image", "file")
VECTOR_COLUMNS = ("vector", "vectors", "embedding", "embeddings")


class UserVectors:
    """Stands in for a backbone in a project built from the user's vectors: it has their dimension,
    and no way to embed a picture, so an image without a vector in the file is refused with a reason
    (``no_vector_reason``) instead of being embedded by some other model."""

    name = USER_BACKBONE
    input_size = 32  # the decode size of a picture checked for damage; never embedded
    computes = False
    no_vector_reason = "no vector for this image in the embeddings file (init --embeddings)"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def prepare(self, image: Image.Image) -> np.ndarray:
        return squash_resize(image, self.input_size)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        raise LabelwiseError(f"backbone {USER_BACKBONE}: {self.no_vector_reason}")


@dataclass
class UserEmbeddings:
    paths: list[str]
    vectors: np.ndarray  # (n, d) float32, finite
    errors: list[str] = field(default_factory=list)  # "FILE: row N: reason"


def _column(names: list[str], wanted: tuple[str, ...], file: Path, what: str) -> str:
    found = [n for n in names if n.lower() in wanted]
    if len(found) != 1:
        raise LabelwiseError(f"{file}: expected one {what} column ({'/'.join(wanted)}); found {names!r}")
    return found[0]


def _read_parquet(file: Path) -> tuple[list, list]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise LabelwiseError(f"{file}: reading Parquet needs pyarrow (pip install 'labelwise[parquet]'), "
                             "or give an NPZ file") from None  # fmt: skip

    table = pq.read_table(file)
    path_col = _column(table.column_names, PATH_COLUMNS, file, "path")
    vector_col = _column(table.column_names, VECTOR_COLUMNS, file, "vector")
    vectors = table.column(vector_col).combine_chunks()
    paths = table.column(path_col).to_pylist()
    offsets = getattr(vectors, "offsets", None)
    if offsets is not None and vectors.null_count == 0:
        # One flat buffer and row boundaries: 100k x 768 floats without a Python object per value.
        flat = vectors.flatten().to_numpy(zero_copy_only=False)
        bounds = offsets.to_numpy()
        lengths = np.diff(bounds)
        if lengths.size and np.all(lengths == lengths[0]) and lengths[0] > 0:
            return paths, flat.reshape(len(paths), int(lengths[0]))  # the usual case: one (n, d) array
        return paths, [flat[bounds[i] : bounds[i + 1]] for i in range(len(paths))]
    return paths, [None if v is None else np.asarray(v, dtype=np.float64) for v in vectors.to_pylist()]


def _read_npz(file: Path) -> tuple[list, list]:
    with np.load(file, allow_pickle=False) as data:
        path_key = _column(list(data.files), PATH_COLUMNS, file, "path")
        vector_key = _column(list(data.files), VECTOR_COLUMNS, file, "vector")
        paths, vectors = data[path_key], data[vector_key]
    if vectors.ndim != 2 or len(vectors) != len(paths):
        raise LabelwiseError(f"{file}: {vector_key} must be (n, d) with n = len({path_key}) = {len(paths)}; "
                             f"got shape {vectors.shape}")  # fmt: skip
    return [str(p) for p in paths], vectors


def read_user_embeddings(file: str | Path) -> UserEmbeddings:
    """The valid rows of an embeddings file, and the refused ones with their row number (1-based).

    The dimension is the one most rows have; a row of another length, with a missing, NaN or infinite
    value, an empty path or a path given before is refused.
    """
    file = Path(file)
    if not file.is_file():
        raise LabelwiseError(f"--embeddings: {file}: file not found")
    suffix = file.suffix.lower()
    try:
        if suffix == ".parquet":
            paths, vectors = _read_parquet(file)
        elif suffix == ".npz":
            paths, vectors = _read_npz(file)
        else:
            raise LabelwiseError(f"--embeddings: {file}: expected a .parquet or .npz file")
    except LabelwiseError:
        raise
    except Exception as exc:  # a damaged file: pyarrow and numpy raise many kinds
        raise LabelwiseError(f"--embeddings: {file}: cannot read: {exc}") from None
    if isinstance(vectors, np.ndarray):  # one (n, d) array: every check at once
        if vectors.size == 0:
            raise LabelwiseError(f"--embeddings: {file}: no vectors")
        dim, lengths = vectors.shape[1], np.full(len(paths), vectors.shape[1])
        finite = np.isfinite(vectors).all(axis=1)
    else:
        lengths = np.array([-1 if v is None else len(v) for v in vectors])
        if not (lengths >= 0).any():
            raise LabelwiseError(f"--embeddings: {file}: no vectors")
        dim = int(np.bincount(lengths[lengths >= 0]).argmax())
        finite = np.array([v is not None and len(v) == dim and bool(np.isfinite(v).all()) for v in vectors])
    keep, errors, seen = [], [], {}
    for row, path in enumerate(paths, 1):
        where, length = f"{file}: row {row}", lengths[row - 1]
        if not isinstance(path, str) or not path.strip():
            errors.append(f"{where}: empty path")
        elif length < 0:
            errors.append(f"{where}: {path}: no vector")
        elif length != dim:
            errors.append(f"{where}: {path}: {length} values, the others have {dim}")
        elif not finite[row - 1]:
            errors.append(f"{where}: {path}: a NaN or infinite value")
        elif path in seen:
            errors.append(f"{where}: {path}: given before, at row {seen[path]}")
        else:
            seen[path] = row
            keep.append(row - 1)
    if isinstance(vectors, np.ndarray):
        stacked = np.asarray(vectors[keep], dtype=np.float32)
    else:
        stacked = np.asarray([vectors[i] for i in keep], dtype=np.float32).reshape(len(keep), dim)
    return UserEmbeddings([paths[i] for i in keep], stacked, errors)
