"""Similar-image batches: the unlabeled images nearest to one image, labeled many at once.

The batch is the nearest unlabeled neighbours of an image in the projected embedding space (cosine,
:func:`labelwise.strategies.neighbours.nearest_by_cosine`: exact, or through an IVF index kept between
requests from ``INDEX_LIMIT`` images on), all pre-ticked with one class; the annotator unticks the
wrong ones and labels the rest with one key. Each label records ``source=batch``, so audits and
accuracy estimates can tell them from one-by-one labels.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from labelwise.errors import LabelwiseError
from labelwise.project import queue
from labelwise.project.classes import active_class_names
from labelwise.project.multilabel_labels import refuse_on_multi_label
from labelwise.project.near_duplicates import group_members
from labelwise.project.pool import Pool, PoolCache, load_pool
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Annotation, Image, LabelClass, User
from labelwise.strategies.neighbours import INDEX_LIMIT, CosineIndex, nearest_by_cosine

MAX_BATCH = 48


@dataclass
class Neighbour:
    image_id: int
    path: str
    similarity: float  # cosine, in [-1, 1]


@dataclass
class SimilarBatch:
    image_id: int
    path: str
    label: str | None  # the image's current label: the class the batch is pre-ticked with
    items: list[Neighbour]


@dataclass
class BatchResult:
    labeled: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # image id, why


@dataclass
class _Searcher:
    """What a long-lived process (the server) keeps of one project for similar searches: the pool
    (reloaded only when its set of images changes, see PoolCache) and, on a large pool, its index."""

    pool_cache: PoolCache = field(default_factory=PoolCache)
    index: CosineIndex | None = None
    indexed: np.ndarray | None = None  # the pool.X the index was built on
    lock: threading.Lock = field(default_factory=threading.Lock)


_searchers: dict[Path, _Searcher] = {}
_searchers_lock = threading.Lock()


def _pool_and_index(project: Project, index_limit: int = INDEX_LIMIT) -> tuple[Pool, CosineIndex | None]:
    """The pool, and an index of its embeddings when it has at least ``index_limit`` images.

    A small pool is loaded afresh each time, as before. A large one is kept with its index and loaded
    again only when its set of images changes: new images only (PoolCache projects them as before) are
    added to the index; an image removed, or the projection refitted (the pool's X is then another
    array), builds it again. A projection refitted by the trainer alone is picked up at the next
    change, the old one still being a fine space to find look-alikes in."""
    with project.sessions() as session:
        count = session.scalar(select(func.count(Image.id)).where(Image.status == STATUS_OK)) or 0
    if count < index_limit:
        return load_pool(project), None
    with _searchers_lock:
        searcher = _searchers.setdefault(Path(project.folder).resolve(), _Searcher())
    with searcher.lock:  # PoolCache is not safe for two requests at once
        pool = load_pool(project, searcher.pool_cache)
        old = searcher.indexed
        if old is pool.X:
            pass
        elif (
            old is not None
            and searcher.index is not None
            and pool.X.shape[0] > old.shape[0]
            and np.array_equal(pool.X[: old.shape[0]], old)
        ):
            searcher.index.add(pool.X[old.shape[0] :])  # grown only: the k-means cells still serve
            searcher.indexed = pool.X
        else:
            searcher.index, searcher.indexed = CosineIndex(pool.X), pool.X
        return pool, searcher.index


def similar_unlabeled(
    project: Project, image_id: int, n: int = MAX_BATCH, index_limit: int = INDEX_LIMIT
) -> SimilarBatch:
    """The ``n`` (at most 48) unlabeled images most similar to image ``image_id``, most similar first;
    through an index of the pool from ``index_limit`` images on."""
    if not 1 <= n <= MAX_BATCH:
        raise LabelwiseError(f"n: must be between 1 and {MAX_BATCH}")
    pool, index = _pool_and_index(project, index_limit)
    where = np.flatnonzero(pool.image_ids == image_id)
    if where.size == 0:
        raise queue.NotFoundError(f"image_id: no usable image {image_id}")
    row = int(where[0])
    unlabeled = np.flatnonzero(pool.labels < 0)
    unlabeled = unlabeled[unlabeled != row]
    rows, sims = nearest_by_cosine(pool.X, pool.X[row], unlabeled, n, index)
    label = pool.class_names[pool.labels[row]] if pool.labels[row] >= 0 else None
    items = [Neighbour(int(pool.image_ids[r]), pool.paths[r], float(s)) for r, s in zip(rows, sims, strict=True)]
    return SimilarBatch(image_id, pool.paths[row], label, items)


def similar_to_path(project: Project, path: str, n: int = MAX_BATCH) -> SimilarBatch:
    """``similar_unlabeled`` for an image named by its path (relative to the images root); always the
    exact search: this is one search in a process of its own (``labelwise similar``), where building
    an index would cost more than it saves."""
    from labelwise.project.labels import normalize_path

    with project.sessions() as session:
        image_id = session.scalar(select(Image.id).where(Image.path == normalize_path(project, path)))
    if image_id is None:
        raise LabelwiseError(f"image {path!r}: not in the project")
    return similar_unlabeled(project, image_id, n, index_limit=sys.maxsize)


def group_batch(project: Project, image_id: int) -> SimilarBatch:
    """The unlabeled near-duplicates of image ``image_id`` (its group, :mod:`near_duplicates`), most
    similar first: "label the group".

    Similarities are those the group was made on (the backbone's vectors, not the projection), so
    the page shows the figure the threshold was compared with; only the group is read, not the pool."""
    members = group_members(project, image_id)
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Image.content_hash)
            .where(Image.id.in_(members), Image.status == STATUS_OK)
            .order_by(Image.id)
        ).all()
        labeled = dict(
            session.execute(
                select(Annotation.image_id, LabelClass.name)
                .join(LabelClass, LabelClass.id == Annotation.class_id)
                .where(Annotation.image_id.in_(members), Annotation.superseded.is_(False))
            ).all()
        )
    found = [r for r in rows if r.id == image_id]
    if not found:
        raise queue.NotFoundError(f"image_id: no usable image {image_id}")
    others = [r for r in rows if r.id != image_id and r.id not in labeled]
    vectors = project.store.get([found[0].content_hash] + [r.content_hash for r in others])
    order, sims = nearest_by_cosine(vectors, vectors[0], np.arange(1, len(vectors)), len(others))
    items = [Neighbour(others[i - 1].id, others[i - 1].path, float(sim)) for i, sim in zip(order, sims, strict=True)]
    return SimilarBatch(image_id, found[0].path, labeled.get(image_id), items)


def label_batch(project: Project, user: User, image_ids: list[int], label: str) -> BatchResult:
    """Label every image of ``image_ids`` as ``label`` (``source=batch``). An image somebody else holds
    or labeled meanwhile is refused with its reason; the others are labeled. An unknown or retired
    class refuses the whole batch before anything is written, as does a multi-label project (one
    class for many images is a single-label gesture; its page hides the link)."""
    refuse_on_multi_label(project, "label similar images")
    offered = active_class_names(project)
    if label not in offered:
        raise LabelwiseError(f"label: {label!r} is not an offered class; the classes are: {', '.join(offered)}")
    result = BatchResult()
    for image_id in dict.fromkeys(image_ids):  # a repeated id is labeled once
        try:
            queue.annotate(project, user, image_id, label, None, queued=True, source="batch")
        except LabelwiseError as exc:
            result.refused.append((image_id, str(exc)))
            continue
        result.labeled.append(image_id)
    return result
