"""Embed many images into a store, preparing the next batch in threads while the current one runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from PIL import Image

from labelwise.embed.backbone import Backbone
from labelwise.embed.store import EmbeddingStore


def embed_into_store(
    backbone: Backbone, store: EmbeddingStore, keys: Sequence[str], pixels: Sequence[np.ndarray]
) -> int:
    """Embed one batch of prepared pictures and store it under ``keys``; returns how many were new."""
    return store.add(keys, backbone.embed(np.stack(pixels)))


def embed_missing(
    backbone: Backbone,
    store: EmbeddingStore,
    keys: Sequence[str],
    load: Callable[[int], Image.Image],
    *,
    batch: int = 64,
    workers: int = 2,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Embed item ``i`` (``load(i)`` gives its image) for every key the store lacks; returns how many.

    Items already in the store are not loaded at all, so a second run costs only the lookups.
    """
    todo = [i for i, key in enumerate(keys) if key not in store]
    chunks = [todo[s : s + batch] for s in range(0, len(todo), batch)]
    done = 0

    def prepare(chunk: list[int]) -> np.ndarray:
        return np.stack([backbone.prepare(load(i)) for i in chunk])

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labelwise-prepare") as pool:
        ahead: list[Future[np.ndarray]] = [pool.submit(prepare, c) for c in chunks[:workers]]
        for n, chunk in enumerate(chunks):
            pixels = ahead.pop(0).result()
            if n + workers < len(chunks):
                ahead.append(pool.submit(prepare, chunks[n + workers]))
            done += embed_into_store(backbone, store, [keys[i] for i in chunk], list(pixels))
            if on_progress:
                on_progress(len(chunk))
    return done
