"""The project's pool as arrays: ok images, their (projected) embeddings and current labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sqlalchemy import select

from labelwise.project.labels import current_labels
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Image


@dataclass
class Pool:
    image_ids: np.ndarray  # (N,) database ids
    paths: list[str]
    X: np.ndarray  # (N, d) float32, projected embeddings
    labels: np.ndarray  # (N,) class positions, -1 where unlabeled
    class_names: list[str]


def project_features(vectors: np.ndarray, components: int, cache: Path | None = None, seed: int = 0) -> np.ndarray:
    """PCA of the pool's embeddings to ``components`` dimensions (0 or >= dim: unchanged).

    The projection is fitted on the pool itself (labels are not needed) and cached by pool size.
    """
    n, d = vectors.shape
    k = min(components, n, d) if components else d
    if k >= d or n < 2:
        return np.asarray(vectors, dtype=np.float32)
    if cache is not None and cache.exists():
        saved = np.load(cache)
        if saved["n"] == n and saved["components"].shape == (k, d):
            return ((vectors - saved["mean"]) @ saved["components"].T).astype(np.float32)
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(vectors)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, n=n, mean=pca.mean_, components=pca.components_)
        tmp.replace(cache)
    return pca.transform(vectors).astype(np.float32)


def load_pool(project: Project) -> Pool:
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Image.content_hash).where(Image.status == STATUS_OK).order_by(Image.id)
        ).all()
        labeled = current_labels(session)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = project.store.get([r[2] for r in rows]) if rows else np.empty((0, project.store.dim), np.float32)
    X = project_features(vectors, project.config.pca_components, project.folder / "models" / "pca.npz")
    labels = np.array([labeled.get(int(i), -1) for i in ids], dtype=np.int64)
    return Pool(ids, [r[1] for r in rows], X, labels, project.class_names())
