"""The IDX format of MNIST and Fashion-MNIST: a big-endian header, then raw data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from labelwise.errors import LabelwiseError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read a (optionally gzipped) IDX file into an array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise LabelwiseError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_DTYPES[raw[2]], offset=header)
    if data.size != int(np.prod(shape)):
        raise LabelwiseError(f"{path}: header declares shape {shape} but holds {data.size} values")
    return data.reshape(shape)
