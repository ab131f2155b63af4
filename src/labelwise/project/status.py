"""What a project holds: counts, labels per class, broken files.

:func:`project_status` is the full report (``labelwise status``: every broken, missing and flagged
path). :func:`label_and_image_counts` is what the dashboard and ``GET /api/status`` need after every
new label: the image counts are computed once per state of the pool (its newest id and, per status
other than ok, the count and sum of ids: index lookups on the status index, as many rows as there
are such images) and the label counts from label-sized queries, so that a new label never costs a
pass over a million image rows (it took a median 3.3-10.4 s during the load at 1M before).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from labelwise.project.labels import current_labels
from labelwise.project.multilabel_labels import current_label_sets
from labelwise.project.near_duplicates import near_duplicate_summary
from labelwise.project.project import Project
from labelwise.store.models import STATUS_BROKEN, STATUS_DUPLICATE, STATUS_MISSING, STATUS_OK, Image

_NOT_OK = (STATUS_BROKEN, STATUS_DUPLICATE, STATUS_MISSING)


def _label_counts(project: Project, session: Session, usable: Callable[[int], bool]) -> tuple[int, dict[str, int]]:
    """How many usable images are labeled, and how many labels each class has (an image of a
    multi-label project counts once for each class of its set)."""
    labels = {i: c for i, c in current_labels(session).items() if usable(i)}
    sets = {i: s for i, s in current_label_sets(session).items() if usable(i)} if project.multi_label else {}
    classes = project.class_names()
    per_class = {name: 0 for name in classes}
    for position in [*labels.values(), *(p for positions in sets.values() for p in positions)]:
        per_class[classes[position]] += 1
    return len(labels.keys() | sets.keys()), per_class


def project_status(project: Project) -> dict:
    with project.sessions() as session:
        counts = dict(session.execute(select(Image.status, func.count()).group_by(Image.status)).all())
        broken = [
            {"path": path, "reason": reason}
            for path, reason in session.execute(
                select(Image.path, Image.reason).where(Image.status == STATUS_BROKEN).order_by(Image.path)
            )
        ]
        missing = list(session.scalars(select(Image.path).where(Image.status == STATUS_MISSING).order_by(Image.path)))
        review = [
            {"path": path, "reason": reason}
            for path, reason in session.execute(
                select(Image.path, Image.review_reason)
                .where(Image.status == STATUS_OK, Image.review_reason.is_not(None))
                .order_by(Image.path)
            )
        ]
        ok_ids = set(session.scalars(select(Image.id).where(Image.status == STATUS_OK)))
        labeled, per_class = _label_counts(project, session, lambda i: i in ok_ids)
    return {
        "project": str(project.folder),
        "images_root": project.config.images_root,
        "backbone": project.config.backbone,
        "kind": project.kind,  # single-label or multi-label, fixed at init
        "images_ok": counts.get(STATUS_OK, 0),
        "images_broken": counts.get(STATUS_BROKEN, 0),
        "images_duplicate": counts.get(STATUS_DUPLICATE, 0),
        "images_missing": counts.get(STATUS_MISSING, 0),
        "labeled": labeled,
        "unlabeled": len(ok_ids) - labeled,
        "classes": per_class,
        "store_vectors": len(project.store),
        "store_bytes": project.store.nbytes(),
        "broken": broken,
        "missing": missing,
        "to_review": review,
        # Different files of nearly one picture (cosine of the embeddings at least the project's
        # near_duplicate_threshold): each a list of paths.
        "near_duplicate_groups": near_duplicate_summary(project),
    }


@dataclass(frozen=True)
class Counts:
    images_ok: int
    images_broken: int
    images_duplicate: int
    images_missing: int
    labeled: int  # ok images with a current label
    unlabeled: int
    classes: dict[str, int]  # current labels of ok images per class, in column order


# project folder -> (pool key, counts of images per status, ids of images not ok): see _pool_key.
_pool_cache: dict[str, tuple[tuple, dict[str, int], frozenset[int]]] = {}
_pool_lock = threading.Lock()


def _pool_key(session: Session) -> tuple:
    """What the image counts depend on, read without visiting ok images: the newest id (an ingest
    adds rows) and, per status other than ok, how many images have it and the sum of their ids (an
    image changing status, or a broken row deleted, changes them). Ok images are never deleted."""
    rows = session.execute(
        select(Image.status, func.count(), func.sum(cast(Image.id, BigInteger)))
        .where(Image.status.in_(_NOT_OK))
        .group_by(Image.status)
    ).all()
    newest = session.scalar(select(func.max(Image.id)))
    return (newest, tuple(sorted((status, int(n), int(total or 0)) for status, n, total in rows)))


def _pool_counts(project: Project, session: Session) -> tuple[dict[str, int], frozenset[int]]:
    """Images per status and the ids of the images not ok: counted over the pool once per pool key."""
    key = _pool_key(session)
    folder = str(project.folder)
    with _pool_lock:
        cached = _pool_cache.get(folder)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    counts = dict(session.execute(select(Image.status, func.count()).group_by(Image.status)).all())
    not_ok = frozenset(session.scalars(select(Image.id).where(Image.status.in_(_NOT_OK))))
    with _pool_lock:
        _pool_cache[folder] = (key, counts, not_ok)
    return counts, not_ok


def images_per_status(project: Project, session: Session) -> dict[str, int]:
    """How many images have each status, counted once per state of the pool (see :func:`_pool_key`):
    the image grid's totals of a status read this instead of counting a million rows per page."""
    return _pool_counts(project, session)[0]


def label_and_image_counts(project: Project) -> Counts:
    """The counts of :func:`project_status` that the dashboard shows, cheap to recompute per label."""
    with project.sessions() as session:
        counts, not_ok = _pool_counts(project, session)
        labeled, per_class = _label_counts(project, session, lambda i: i not in not_ok)
    ok = counts.get(STATUS_OK, 0)
    return Counts(
        images_ok=ok,
        images_broken=counts.get(STATUS_BROKEN, 0),
        images_duplicate=counts.get(STATUS_DUPLICATE, 0),
        images_missing=counts.get(STATUS_MISSING, 0),
        labeled=labeled,
        unlabeled=ok - labeled,
        classes=per_class,
    )
