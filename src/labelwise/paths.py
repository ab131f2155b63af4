"""Where labelwise keeps caches (``$LABELWISE_CACHE``, else ``$XDG_CACHE_HOME/labelwise``), and how
it writes a file atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labelwise"
    path = Path(os.environ.get("LABELWISE_CACHE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through ``write(file)`` so that readers see the old file or the whole new one.

    The temporary name is unique (concurrent writers of one target never share it), the data is
    fsynced before the rename, and a failed write leaves no temporary file behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
