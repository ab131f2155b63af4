"""Where labelwise keeps caches: ``$LABELWISE_CACHE``, else ``$XDG_CACHE_HOME/labelwise``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labelwise"
    path = Path(os.environ.get("LABELWISE_CACHE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path
