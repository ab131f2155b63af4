"""The project's pool as arrays: ok images, their (projected) embeddings and current labels.

A long-lived process (the training worker) keeps the pool in a :class:`PoolCache` between retrains:
the labels are read again every time, the images and their projected embeddings only when the set
of ok images changed, and then only the images added since (a full reload when images left the pool).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from labelwise.embed.projection import REFIT_GROWTH, Projection, fit_projection
from labelwise.embed.store import StoredRows
from labelwise.project.labels import current_labels
from labelwise.project.project import Project
from labelwise.project.projected_pool import projected_pool
from labelwise.project.votes import training_labels
from labelwise.store.models import STATUS_OK, Image, random_order_key
from labelwise.strategies.diversity import fold_in_typicality
from labelwise.strategies.geometry import assign_to_clusters


@dataclass
class Pool:
    image_ids: np.ndarray  # (N,) database ids
    paths: list[str]
    X: np.ndarray  # (N, d) float32, projected embeddings
    labels: np.ndarray  # (N,) class positions, -1 where unlabeled
    class_names: list[str]
    keys: np.ndarray  # (N,) int64 random order keys (Image.rand_key)


def load_pool(project: Project, cache: PoolCache | None = None, *, votes: bool = False) -> Pool:
    """The pool now. With ``cache``, the images and vectors it holds are reused (and it is updated).

    votes: the labels a model trains on (an overlap image's majority; a disputed tie left out) instead
    of each image's current label, which is what review, similar search and exports speak of."""
    with project.sessions() as session:
        fingerprint = _fingerprint(session)
        if cache is not None and cache.pool is not None and cache.fingerprint == fingerprint:
            pool = cache.pool
        elif cache is not None and _grown_only(session, project, cache, fingerprint[0]):
            assert cache.pool is not None
            pool = _fold_in(project, cache, _image_rows(session, after=int(cache.pool.image_ids[-1])))
        else:
            pool = _from_rows(project, _image_rows(session), cache)
            if cache is not None:
                cache.clusters = cache.typicality = None  # a new pool, or projection: made again when next needed
        names = project.class_names()
        labeled = current_labels(session)
        if votes:  # overlap images train on the majority of their labels; a tie waits for a reviewer
            labeled = training_labels(session, labeled, len(names))
    if cache is not None:
        cache.pool, cache.fingerprint = pool, fingerprint
    return replace(pool, labels=_label_array(pool.image_ids, labeled), class_names=names)


@dataclass
class PoolCache:
    """What a long-lived process keeps of the pool between two loads: the pool, the projection its
    embeddings went through, and the fingerprint of its set of ok images (count, sum of ids, sum of
    squared ids: an image leaving or joining the pool changes it)."""

    pool: Pool | None = None
    projection: Projection | None = None
    fingerprint: tuple[int, int, int] | None = None
    clusters: np.ndarray | None = None  # (N,) the pool's label-independent clustering, once a strategy made it
    typicality: np.ndarray | None = None  # (N,) typicality within those clusters, once TypiClust needed it


def _fingerprint(session: Session, up_to: int | None = None) -> tuple[int, int, int]:
    big = cast(Image.id, BigInteger)  # squared ids overflow PostgreSQL's integer
    query = select(func.count(Image.id), func.sum(big), func.sum(big * big)).where(Image.status == STATUS_OK)
    if up_to is not None:
        query = query.where(Image.id <= up_to)
    count, total, squares = session.execute(query).one()
    return int(count), int(total or 0), int(squares or 0)


def _grown_only(session: Session, project: Project, cache: PoolCache, count: int) -> bool:
    """True when the ok images the cache holds are all still ok, only newer ones were added, and its
    projection still serves (the pool grew by less than ``REFIT_GROWTH`` since it was fitted)."""
    if cache.pool is None or cache.pool.image_ids.size == 0 or cache.fingerprint is None:
        return False
    if _fingerprint(session, int(cache.pool.image_ids[-1])) != cache.fingerprint:
        return False
    if cache.projection is None:  # unprojected: still so only when the project asks for no projection
        components = project.config.pca_components
        return not components or components >= project.store.dim
    return count < cache.projection.n * (1 + REFIT_GROWTH)


def _image_rows(session: Session, after: int | None = None) -> list:
    query = select(Image.id, Image.path, Image.content_hash, Image.rand_key).where(Image.status == STATUS_OK)
    if after is not None:
        query = query.where(Image.id > after)
    return list(session.execute(query.order_by(Image.id)).all())


def _unprojected(project: Project, rows: list) -> tuple[np.ndarray, StoredRows | np.ndarray, np.ndarray]:
    """Database ids, stored vectors (read lazily) and random order keys of ``rows``."""
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    # Read when projected, block by block: a million 512-d vectors are 2 GB, their projection a quarter.
    vectors = project.store.lazy([r[2] for r in rows]) if rows else np.empty((0, project.store.dim), np.float32)
    keys = np.array([r[3] if r[3] is not None else random_order_key(r[1]) for r in rows], dtype=np.int64)
    return ids, vectors, keys


def _from_rows(project: Project, rows: list, cache: PoolCache | None) -> Pool:
    ids, vectors, keys = _unprojected(project, rows)
    pca = project.folder / "models" / "pca.npz"
    if cache is None:
        X, projection = fit_projection(vectors, project.config.pca_components, pca)
    else:  # a long-lived process: the projected pool on disk, each image projected once per fit
        X, projection = fit_projection(vectors, project.config.pca_components, pca, apply=False)
        if X is None:
            assert projection is not None
            X = projected_pool(project.folder / "models", ids, vectors, projection)
        cache.projection = projection
    return Pool(ids, [r[1] for r in rows], X, np.full(ids.size, -1, dtype=np.int64), [], keys)


def _fold_in(project: Project, cache: PoolCache, rows: list) -> Pool:
    """The cached pool with the images of ``rows`` (all newer than its last) appended, projected as it was."""
    assert cache.pool is not None
    pool = cache.pool
    ids, vectors, keys = _unprojected(project, rows)
    all_ids = np.concatenate([pool.image_ids, ids])
    X = None
    if cache.projection is None:
        new = np.asarray(vectors, dtype=np.float32)
    else:  # appended to the projected pool on disk (mapped again), or projected here when it lacks rows
        X = projected_pool(project.folder / "models", all_ids, vectors, cache.projection, first=pool.image_ids.size)
        new = cache.projection.apply(vectors) if X is None else X[pool.image_ids.size :]
    if cache.clusters is not None and len(rows):
        # New images join the nearest existing cluster; the pool is clustered again with the refit
        # of the projection, once it has grown by REFIT_GROWTH.
        joined = assign_to_clusters(pool.X, cache.clusters, new)
        if cache.typicality is not None:
            typical = fold_in_typicality(pool.X, cache.clusters, new, joined)
            cache.typicality = np.concatenate([cache.typicality, typical])
        cache.clusters = np.concatenate([cache.clusters, joined])
    if X is None:
        X = np.concatenate([pool.X, new])
    return Pool(all_ids, pool.paths + [r[1] for r in rows], X,
                np.full(X.shape[0], -1, dtype=np.int64), [], np.concatenate([pool.keys, keys]))  # fmt: skip


def _label_array(image_ids: np.ndarray, labeled: dict[int, int]) -> np.ndarray:
    """``(N,)`` class position of each image, -1 where unlabeled (ids ascending, as the pool holds them)."""
    labels = np.full(image_ids.size, -1, dtype=np.int64)
    if labeled and image_ids.size:
        ids = np.fromiter(labeled.keys(), dtype=np.int64, count=len(labeled))
        positions = np.fromiter(labeled.values(), dtype=np.int64, count=len(labeled))
        at = np.minimum(np.searchsorted(image_ids, ids), image_ids.size - 1)
        hit = image_ids[at] == ids  # labels of images no longer in the pool are left out
        labels[at[hit]] = positions[hit]
    return labels


def stop_set(pool: Pool, size: int) -> np.ndarray:
    """Pool positions (ascending) of the ``size`` images with the smallest random keys.

    A random sample of the pool, not its first folders, that stays put as the pool grows: a new
    image enters only by displacing the member with the largest key, so two models in a row are
    compared on nearly the same images.
    """
    if pool.keys.size <= size:
        return np.arange(pool.keys.size)
    return np.sort(np.argpartition(pool.keys, size)[:size])
