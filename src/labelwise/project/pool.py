"""The project's pool as arrays: ok images, their (projected) embeddings and current labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from labelwise.embed.projection import project_features
from labelwise.project.labels import current_labels
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Image, random_order_key


@dataclass
class Pool:
    image_ids: np.ndarray  # (N,) database ids
    paths: list[str]
    X: np.ndarray  # (N, d) float32, projected embeddings
    labels: np.ndarray  # (N,) class positions, -1 where unlabeled
    class_names: list[str]
    keys: np.ndarray  # (N,) int64 random order keys (Image.rand_key)


def load_pool(project: Project) -> Pool:
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Image.content_hash, Image.rand_key)
            .where(Image.status == STATUS_OK)
            .order_by(Image.id)
        ).all()
        labeled = current_labels(session)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = project.store.get([r[2] for r in rows]) if rows else np.empty((0, project.store.dim), np.float32)
    X = project_features(vectors, project.config.pca_components, project.folder / "models" / "pca.npz")
    labels = np.array([labeled.get(int(i), -1) for i in ids], dtype=np.int64)
    keys = np.array([r[3] if r[3] is not None else random_order_key(r[1]) for r in rows], dtype=np.int64)
    return Pool(ids, [r[1] for r in rows], X, labels, project.class_names(), keys)


def stop_set(pool: Pool, size: int) -> np.ndarray:
    """Pool positions (ascending) of the ``size`` images with the smallest random keys.

    A random sample of the pool, not its first folders, that stays put as the pool grows: a new
    image enters only by displacing the member with the largest key, so two models in a row are
    compared on nearly the same images.
    """
    if pool.keys.size <= size:
        return np.arange(pool.keys.size)
    return np.sort(np.argpartition(pool.keys, size)[:size])
