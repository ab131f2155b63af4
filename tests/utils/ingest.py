"""One set of files ingested two ways (locally, through Ray, from an object store) gives one project."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelwise.project import Project

COUNTS = ("images_ok", "images_broken", "images_duplicate", "store_vectors")


def assert_same_ingest(local: dict, other: dict, path: Callable[[str], str] = lambda p: p) -> None:
    """``status --json`` of both: the same counts, and the same broken files for the same reasons
    (``path`` maps a local path to how the other project names it)."""
    for key in COUNTS:
        assert local[key] == other[key], key
    assert sorted((path(b["path"]), b["reason"]) for b in local["broken"]) == sorted(
        (b["path"], b["reason"]) for b in other["broken"]
    )


def assert_same_embeddings(a: Project, b: Project) -> None:
    """The same stored images, with vectors that agree to float32 rounding."""
    keys = a.store.keys()
    assert sorted(keys) == sorted(b.store.keys())
    assert np.abs(a.store.get(keys) - b.store.get(keys)).max() < 1e-5
