"""The image grid: one page of the project's images, filtered and sorted, paged in SQL.

A page never loads the image table. The default order (by path, which is unique) is a keyset walk:
``WHERE path > :after ORDER BY path LIMIT n``. The model's predicted class, confidence and score are
not in the database but in ``models/predictions.npz`` (written by each retrain); sorting by score or
confidence orders the ids of that file with NumPy and fetches the page's rows by id, in chunks, with
the SQL filters applied; images without a score follow, by path. ``next`` is an opaque cursor for the
page after this one (``after=``); ``offset`` still works and skips that many matching images.

Filters are SQL clauses built in :func:`_clauses` (status, file name, label, labeled) plus the one
filter on the predictions file (``predicted``): a new filter on a database column is one more clause.

Where a page still reads more than a page of rows (each read bounded by LIMIT or a chunk of ids):
the ``predicted`` filter in path order reads rows in chunks until the page is full (a rare class
reads many chunks); the images without a score, after the scored ones of a score or confidence
sort, are found by walking the path order past the scored ones. Equal scores or confidences are
ordered by image id (the grid loaded before ordered them by path).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from sqlalchemy import ColumnElement, distinct, exists, func, select
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.project.multilabel_labels import label_texts
from labelwise.project.near_duplicates import group_members, near_duplicate_counts
from labelwise.project.predictions import imported_predictions
from labelwise.project.project import Project
from labelwise.project.status import images_per_status
from labelwise.project.training import Ranking, predictions_path
from labelwise.store.models import Annotation, AnnotationClass, Image, LabelClass

SORTS = ("path", "score", "confidence")
STATUSES = ("ok", "broken", "duplicate")
MAX_SEARCH = 200  # characters of a file name search: a path fragment, not a document
# Ids per ``IN (...)`` query when walking the predictions file's order: well under SQLite's
# 32,766 bound parameters, and a few milliseconds a query.
ID_CHUNK = 2000


@dataclass(frozen=True)
class GridFilters:
    """What the grid shows: ``status`` of the images, and optional narrowing (``None``: no filter)."""

    status: str = "ok"
    label: str | None = None  # current label is this class
    labeled: bool | None = None  # has a current label (True) or has none (False)
    predicted: str | None = None  # the project model's predicted class
    search: str | None = None  # part of the path, any case
    sort: str = "path"
    group: int | None = None  # only the near-duplicate group of this image id (the image alone without one)
    members: tuple[int, ...] | None = None  # that group's image ids, filled in by image_grid
    sets: bool = False  # a multi-label project: the label filter reads the label sets (filled in by image_grid)


@dataclass(frozen=True)
class GridItem:
    image_id: int
    path: str
    reason: str | None
    label: str | None
    predicted: str | None
    confidence: float | None
    score: float | None
    imported_predicted: str | None  # the user's own model (labelwise import-predictions)
    imported_probability: float | None
    near_duplicates: int = 0  # the other members of its near-duplicate group


@dataclass(frozen=True)
class GridPage:
    total: int  # images matching the filters
    offset: int
    items: list[GridItem]
    notice: str | None  # a sentence when the sort asked for cannot be honoured (then the order is by path)
    next: str | None  # cursor of the page after this one (``after=``); None on the last page


class _Predictions:
    """The newest retrain's predictions file. Its two sort orders are made on first use: a page in path
    order needs neither, and at 1M images the two sorts cost the server 0.2-0.4 s of CPU per retrain
    (issue 8: the grid's first page polled during labeling made the lease requests wait)."""

    def __init__(self, ids: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, score: np.ndarray):
        self.ids = ids  # (N,) image ids, ascending
        self.predicted = predicted  # (N,) class positions
        self.confidence = confidence  # (N,) float
        self.score = score  # (N,) float, NaN where the strategy gives no per-image score

    @cached_property
    def by_score(self) -> np.ndarray:
        """Positions with a score, highest first, ties by id."""
        scored = np.flatnonzero(~np.isnan(self.score))
        return scored[np.lexsort((self.ids[scored], -self.score[scored]))]

    @cached_property
    def by_confidence(self) -> np.ndarray:
        """All positions, lowest confidence first, ties by id."""
        return np.lexsort((self.ids, self.confidence))

    def at(self, image_id: int) -> int | None:
        i = int(np.searchsorted(self.ids, image_id))
        return i if i < self.ids.size and self.ids[i] == image_id else None


_cache: dict[str, tuple[tuple[int, int], _Predictions]] = {}
_cache_lock = threading.Lock()


def _predictions(project: Project) -> _Predictions | None:
    """The predictions file, read once per version of it (its size and modification time)."""
    path = predictions_path(project)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        with np.load(path) as data:
            ids = np.asarray(data["image_ids"], dtype=np.int64)
            predicted = np.asarray(data["predicted"])
            confidence = np.asarray(data["confidence"], dtype=float)
            score = np.asarray(data["score"], dtype=float)
    except FileNotFoundError:  # replaced between the stat and the read: no file this time
        return None
    if ids.size and np.any(ids[1:] < ids[:-1]):  # the retrain writes the pool in id order: no sort then
        order = np.argsort(ids, kind="stable")
        ids, predicted, confidence, score = ids[order], predicted[order], confidence[order], score[order]
    preds = _Predictions(ids, predicted, confidence, score)
    with _cache_lock:
        _cache[str(path)] = (key, preds)
    return preds


def encode_cursor(phase: str, key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([phase, key]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, object]:
    try:
        phase, key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise LabelwiseError("after: not a cursor this grid gave (use the `next` of a page)") from None
    if not (phase == "path" and isinstance(key, str)) and not (
        phase in ("score", "confidence") and isinstance(key, list) and len(key) == 2
    ):
        raise LabelwiseError("after: not a cursor this grid gave (use the `next` of a page)")
    return phase, key


def _check(project: Project, filters: GridFilters) -> list[str]:
    if filters.search is not None and len(filters.search) > MAX_SEARCH:
        raise LabelwiseError(f"q: a file name search is at most {MAX_SEARCH} characters")
    if filters.status not in STATUSES:
        raise LabelwiseError(f"status: {filters.status!r} is not ok, broken or duplicate")
    if filters.sort not in SORTS:
        raise LabelwiseError(f"sort: {filters.sort!r} is not one of {', '.join(SORTS)}")
    classes = project.class_names()
    for name, value in (("label", filters.label), ("predicted", filters.predicted)):
        if value and value not in classes:
            raise LabelwiseError(f"{name}: unknown class {value!r}")
    return classes


def _current(image_id) -> ColumnElement[bool]:
    return (Annotation.image_id == image_id) & Annotation.superseded.is_(False)


def _clauses(filters: GridFilters, *, status_index: bool = True) -> list[ColumnElement[bool]]:
    """The filters that the database answers, as WHERE clauses on ``Image``.

    status_index: False for a walk in path order. With ``status = ?`` SQLite reads every image of
    that status through the status index and sorts them all by path for the LIMIT (0.8 s at 100,000
    images); ``status || '' = ?`` cannot use an index, so it walks the path index in order and stops
    at the page's last row (0.3 ms), on SQLite and PostgreSQL alike.
    """
    status = Image.status if status_index else Image.status + ""
    clauses: list[ColumnElement[bool]] = [status == filters.status]
    if filters.search and filters.search.strip():
        # A plain substring of the path, case-insensitive; LIKE's wildcards in it are literal.
        pattern = filters.search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(func.lower(Image.path).like(f"%{pattern}%", escape="\\"))
    if filters.members is not None:
        clauses.append(Image.id.in_(filters.members))
    if filters.labeled is not None:
        has_label = exists().where(_current(Image.id))
        clauses.append(has_label if filters.labeled else ~has_label)
    if filters.label:
        clauses.append(exists().where(_current(Image.id), _has_class(filters), LabelClass.name == filters.label))
    return clauses


def _has_class(filters: GridFilters) -> ColumnElement[bool]:
    """The current annotation gives the class ``LabelClass``: as its one class, or (multi-label) in its set."""
    if not filters.sets:
        return Annotation.class_id == LabelClass.id
    return (AnnotationClass.annotation_id == Annotation.id) & (AnnotationClass.class_id == LabelClass.id)


def _rows(clauses: list[ColumnElement[bool]]):
    """The page's columns: id, path, reason and the current label's class name."""
    label = (
        select(LabelClass.name)
        .join(Annotation, Annotation.class_id == LabelClass.id)
        .where(_current(Image.id))
        .order_by(Annotation.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(Image.id, Image.path, Image.reason, label).where(*clauses)


def _by_path(session: Session, clauses, after: str | None, chunk: int, skip: int = 0) -> Iterator:
    """Matching rows in path order after ``after``, fetched ``chunk`` at a time (keyset pagination)."""
    while True:
        query = _rows(clauses).order_by(Image.path).limit(chunk)
        if after is not None:
            query = query.where(Image.path > after)
        if skip:
            query, skip = query.offset(skip), 0
        rows = session.execute(query).all()
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1][1]


def _by_ids(session: Session, clauses, ids: np.ndarray) -> Iterator:
    """Matching rows of ``ids``, in the order of ``ids``, fetched ``ID_CHUNK`` ids at a time."""
    for start in range(0, ids.size, ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK].tolist()
        found = {row[0]: row for row in session.execute(_rows(clauses).where(Image.id.in_(chunk)))}
        yield from (found[i] for i in chunk if i in found)


def _count(project: Project, session: Session, filters: GridFilters, ids: np.ndarray | None) -> int:
    """How many images match. ids: the only candidates (the predicted-class filter), or None."""

    def scalar(query) -> int:
        return int(session.scalar(query) or 0)

    if ids is not None:
        query = select(func.count()).select_from(Image).where(*_clauses(filters))
        ids = np.sort(ids)  # ascending ids: each chunk a contiguous range of the primary key
        return sum(
            scalar(query.where(Image.id.in_(ids[s : s + ID_CHUNK].tolist()))) for s in range(0, ids.size, ID_CHUNK)
        )
    images = _clauses(replace(filters, label=None, labeled=None))  # status and file name

    def of_status() -> int:
        if not (filters.search and filters.search.strip()) and filters.members is None:
            # The images of a status, kept per state of the pool: a count(*) over a million rows took
            # 340-430 ms per page (1M images, load 6).
            return images_per_status(project, session).get(filters.status, 0)
        return scalar(select(func.count()).select_from(Image).where(*images))

    if filters.labeled is None and not filters.label:
        return of_status()
    # The label filters are counted through the current labels, a fraction of the images, each
    # image found by its key (the status unindexed, or SQLite starts from the images and looks up
    # a label per image: 140 ms against 38 ms at 100,000 images, a tenth labeled).
    labeled = (
        select(func.count(distinct(Annotation.image_id)))
        .select_from(Annotation)
        .join(Image, Image.id == Annotation.image_id)
        .where(
            Annotation.superseded.is_(False), *_clauses(replace(filters, label=None, labeled=None), status_index=False)
        )
    )
    if filters.label:
        if filters.sets:
            named = labeled.join(AnnotationClass, AnnotationClass.annotation_id == Annotation.id).join(
                LabelClass, LabelClass.id == AnnotationClass.class_id
            )
        else:
            named = labeled.join(LabelClass, LabelClass.id == Annotation.class_id)
        named = named.where(LabelClass.name == filters.label)
        return 0 if filters.labeled is False else scalar(named)
    if filters.labeled:
        return scalar(labeled)
    return of_status() - scalar(labeled)


def image_grid(
    project: Project,
    ranking: Ranking | None,
    filters: GridFilters,
    *,
    offset: int = 0,
    limit: int = 60,
    after: str | None = None,
) -> GridPage:
    """One page of at most ``limit`` images matching ``filters``, after the cursor ``after`` (then
    ``offset`` more skipped). ranking: the one being served, named when its strategy gives no scores."""
    classes = _check(project, filters)
    filters = replace(filters, sets=project.multi_label)
    if filters.group is not None:
        filters = replace(filters, members=tuple(sorted(group_members(project, filters.group))))
    preds = _predictions(project)
    clauses = _clauses(filters)
    # The predicted-class filter reads the predictions file: only ids it names can match.
    wanted: np.ndarray | None = None  # positions in preds of the images predicted as filters.predicted
    if filters.predicted:
        wanted = (
            np.empty(0, np.intp)
            if preds is None
            else np.flatnonzero(preds.predicted == classes.index(filters.predicted))
        )
    sort, notice = filters.sort, None
    if sort == "score" and (preds is None or preds.by_score.size == 0):
        # Say it instead of silently showing path order.
        notice = (
            "sort by score: no model has ranked the images yet, so they are shown by path"
            if preds is None
            else _no_scores(ranking)
        )
        sort = "path"
    phase, key = (sort, None) if after is None else decode_cursor(after)
    if phase not in (sort, "path"):
        raise LabelwiseError(f"after: a cursor of the {phase} order, but the grid is sorted by {sort}")
    with project.sessions() as session:
        candidates = None if wanted is None else np.empty(0, np.int64) if preds is None else preds.ids[wanted]
        total = _count(project, session, filters, candidates)
        rows = _walk(session, clauses, _clauses(filters, status_index=False), preds, wanted, sort, phase, key, limit,
                     offset)  # fmt: skip
        page: list = []
        more = False
        for row, cursor in rows:
            if len(page) == limit:
                more = True
                break
            page.append((row, cursor))
    items = _items(project, classes, preds, [row for row, _ in page])
    if filters.sort == "score" and notice is None and after is None and not any(i.score is not None for i in items):
        # None of the matching images has a score (it would come first): as when the strategy gives none.
        notice = _no_scores(ranking)
    next_cursor = encode_cursor(*page[-1][1]) if more and page else None
    return GridPage(total=total, offset=offset, items=items, notice=notice, next=next_cursor)


def _no_scores(ranking: Ranking | None) -> str:
    return (
        f"sort by score: the strategy {ranking.strategy if ranking else 'in use'!r} gives no per-image "
        "scores, so the images are shown by path (choose e.g. margin on the dashboard to rank by score)"
    )


def _walk(
    session, clauses, path_clauses, preds, wanted, sort, phase, key, limit, offset
) -> Iterator[tuple[object, tuple]]:
    """Matching rows in the grid's order, each with its cursor, from the cursor (phase, key) on;
    the first ``offset`` of them skipped. path_clauses: the filters for the walk in path order."""
    if wanted is not None and wanted.size == 0:
        return  # nothing is predicted as that class (or no model yet): no need to read a row
    wanted_mask = None
    if wanted is not None:
        wanted_mask = np.zeros(0 if preds is None else preds.ids.size, dtype=bool)
        wanted_mask[wanted] = True
    if sort != "path" and phase != "path":
        # First the images the predictions file orders, from just after the cursor.
        order = preds.by_score if sort == "score" else preds.by_confidence
        values = -preds.score if sort == "score" else preds.confidence
        if wanted_mask is not None:
            order = order[wanted_mask[order]]
        if key is not None:
            value, image_id = float(key[0]), int(key[1])
            later = (values[order] > value) | ((values[order] == value) & (preds.ids[order] > image_id))
            order = order[np.argmax(later) :] if later.any() else order[:0]
        for row in _by_ids(session, clauses, preds.ids[order]):
            if offset:
                offset -= 1
                continue
            yield row, (sort, [float(values[preds.at(row[0])]), int(row[0])])
        key = None  # then the images it does not order (no score, or trained on before they came), by path

    def ordered_already(image_id: int) -> bool:
        if sort == "path":
            return False
        i = preds.at(image_id)
        return i is not None and (sort == "confidence" or not np.isnan(preds.score[i]))

    def predicted_elsewhere(image_id: int) -> bool:
        if wanted_mask is None:
            return False
        i = None if preds is None else preds.at(image_id)
        return i is None or not wanted_mask[i]

    # Without filters that the database cannot answer, the database skips and limits by itself.
    python_filter = sort != "path" or wanted_mask is not None
    chunk = max(2 * limit, 200) if python_filter else limit + 1
    skip, offset = (0, offset) if python_filter else (offset, 0)
    for row in _by_path(session, path_clauses, key if isinstance(key, str) else None, chunk, skip):
        if ordered_already(row[0]) or predicted_elsewhere(row[0]):
            continue
        if offset:
            offset -= 1
            continue
        yield row, ("path", row[1])


def _items(project: Project, classes: list[str], preds: _Predictions | None, rows: list) -> list[GridItem]:
    theirs = imported_predictions(project, [row[0] for row in rows]) if rows else {}
    near = near_duplicate_counts(project, [row[0] for row in rows]) if rows else {}
    # A multi-label label has no single class: its set, as text (project/multilabel_labels.py).
    sets = label_texts(project, [row[0] for row in rows]) if rows and project.multi_label else {}
    items = []
    for image_id, path, reason, label in rows:
        label = sets.get(image_id, label)
        i = None if preds is None else preds.at(image_id)
        score = None if i is None or np.isnan(preds.score[i]) else float(preds.score[i])
        items.append(GridItem(
            image_id=image_id, path=path, reason=reason, label=label,
            predicted=None if i is None else classes[int(preds.predicted[i])],
            confidence=None if i is None else float(preds.confidence[i]), score=score,
            imported_predicted=theirs[image_id][0] if image_id in theirs else None,
            imported_probability=theirs[image_id][1] if image_id in theirs else None,
            near_duplicates=near.get(image_id, 0),
        ))  # fmt: skip
    return items
