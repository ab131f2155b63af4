"""project/grid.py on a real SQLite project: every filter and sort against a plain reference that
loads everything (what the grid did before it paged in SQL), page by page through cursors and
offsets; and a page that never reads the whole image table."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sqlalchemy import event

from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.project.grid import GridFilters, decode_cursor, encode_cursor, image_grid
from labelwise.project.labels import add_annotation, current_labels
from labelwise.project.training import Ranking, predictions_path
from labelwise.store.models import Image, LabelClass

CLASSES = ("Bag", "Coat", "Shirt")
N_IMAGES = 300


def _add_images(project: Project, rng: np.random.Generator) -> None:
    names = [f"{CLASSES[i % 3]}/{'x_' if i % 7 == 0 else ''}{i:04d}.png" for i in range(N_IMAGES)]
    order = rng.permutation(N_IMAGES)  # ids not in path order, so the two orders differ
    with project.sessions.begin() as session:
        for i in order:
            status = "broken" if i % 23 == 0 else "duplicate" if i % 29 == 0 else "ok"
            session.add(Image(path=names[i], status=status, content_hash=f"{i:064x}",
                              reason=None if status == "ok" else f"reason {i}"))  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("grid")
    (root / "images").mkdir()
    proj = Project.create(root / "proj", root / "images", backbone="squeezenet")
    proj.add_classes(list(CLASSES))
    rng = np.random.default_rng(7)
    _add_images(proj, rng)
    with proj.sessions.begin() as session:
        images = list(session.query(Image).filter(Image.status == "ok").order_by(Image.id))
        classes = list(session.query(LabelClass).order_by(LabelClass.position))
        for image in images[::4]:  # a quarter labeled, one relabeled (the newer label counts)
            add_annotation(session, image, classes[image.id % 3], annotator="t", source="cli")
        add_annotation(session, images[0], classes[(images[0].id + 1) % 3], annotator="t", source="cli")
        ids = np.array([i.id for i in images[: len(images) - 10]], dtype=np.int64)  # the last 10: added since
    # Predictions of the newest retrain: ties in score and confidence, some NaN scores.
    score = np.round(rng.random(ids.size), 1)
    score[::9] = np.nan
    predictions_path(proj).parent.mkdir(parents=True, exist_ok=True)
    np.savez(predictions_path(proj), image_ids=ids[::-1], predicted=(ids % 3)[::-1],
             confidence=np.round(rng.random(ids.size), 1)[::-1], score=score[::-1])  # fmt: skip
    yield proj
    proj.close()


def reference(project: Project, f: GridFilters) -> list[dict]:
    """Everything loaded and filtered in Python, as the grid did before it paged in SQL
    (ties in the sorts broken by image id, the order the grid documents)."""
    classes = project.class_names()
    data = np.load(predictions_path(project))
    preds = {int(i): (int(p), float(c), float(s)) for i, p, c, s in
             zip(data["image_ids"], data["predicted"], data["confidence"], data["score"], strict=True)}  # fmt: skip
    with project.sessions() as session:
        rows = [(r.id, r.path, r.reason) for r in session.query(Image).filter(Image.status == f.status)]
        labels = current_labels(session)
    rows.sort(key=lambda r: r[1])
    items = []
    for image_id, path, reason in rows:
        if f.search and f.search.strip().lower() not in path.lower():
            continue
        pred = preds.get(image_id)
        item = {"image_id": image_id, "path": path, "reason": reason,
                "label": None if image_id not in labels else classes[labels[image_id]],
                "predicted": None if pred is None else classes[pred[0]],
                "confidence": None if pred is None else pred[1],
                "score": None if pred is None or np.isnan(pred[2]) else pred[2]}  # fmt: skip
        if f.labeled is not None and (item["label"] is not None) != f.labeled:
            continue
        if f.label and item["label"] != f.label:
            continue
        if f.predicted and item["predicted"] != f.predicted:
            continue
        items.append(item)
    if f.sort == "score" and any(i["score"] is not None for i in items):
        scored = sorted((i for i in items if i["score"] is not None), key=lambda i: (-i["score"], i["image_id"]))
        items = scored + [i for i in items if i["score"] is None]
    elif f.sort == "confidence":
        known = sorted(
            (i for i in items if i["confidence"] is not None), key=lambda i: (i["confidence"], i["image_id"])
        )
        items = known + [i for i in items if i["confidence"] is None]
    return items


def as_dicts(page) -> list[dict]:
    return [{k: getattr(i, k) for k in ("image_id", "path", "reason", "label", "predicted", "confidence", "score")}
            for i in page.items]  # fmt: skip


FILTERS = [
    GridFilters(status=status, label=label, labeled=labeled, predicted=predicted, search=search, sort=sort)
    for status, label, labeled, predicted, search, sort in itertools.product(
        ("ok", "broken"), (None, "Coat"), (None, True, False), (None, "Shirt"), (None, "x_"),
        ("path", "score", "confidence"),
    )
]  # fmt: skip


@pytest.mark.parametrize("limit", [7, 60])
def test_every_filter_and_sort_pages_through_exactly_the_reference(project, limit):
    ranking = Ranking(1, "margin", [])
    for f in FILTERS:
        expected = reference(project, f)
        got, after, pages = [], None, 0
        while True:
            page = image_grid(project, ranking, f, limit=limit, after=after)
            assert page.total == len(expected), f
            got += as_dicts(page)
            pages += 1
            if page.next is None:
                break
            assert len(page.items) == limit
            after = page.next
        assert got == expected, f
        assert pages == max(1, -(-len(expected) // limit)), f
        for offset in (0, 5, len(expected) - 3):
            if offset >= 0:
                page = image_grid(project, ranking, f, limit=limit, offset=max(offset, 0))
                assert as_dicts(page) == expected[offset : offset + limit], (f, offset)


def test_a_page_never_reads_the_whole_image_table(project):
    """Every statement a page runs is a count (or the newest id, of the pool's counts), or fetches at most
    a bounded number of rows (LIMIT, or a chunk of ids); the old grid selected every image and every label."""
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()).upper())

    event.listen(project.engine, "before_cursor_execute", capture)
    try:
        for f in (GridFilters(), GridFilters(labeled=False), GridFilters(label="Coat"), GridFilters(sort="score")):
            statements.clear()
            page = image_grid(project, Ranking(1, "margin", []), f, limit=10)
            assert len(page.items) == 10 and page.next is not None
            reads = [
                s
                for s in statements
                if s.startswith("SELECT") and "FROM IMAGES" in s and "COUNT(" not in s and "MAX(" not in s
            ]
            assert reads, f
            for statement in reads:
                assert " LIMIT " in statement or " IN (" in statement, statement
            assert not any("FROM ANNOTATIONS" in s and "IMAGES" not in s for s in statements), statements
    finally:
        event.remove(project.engine, "before_cursor_execute", capture)


def test_the_first_page_fetches_one_row_more_than_it_shows(project):
    """Keyset pagination: ``LIMIT limit + 1`` in path order, whatever the offset into the table."""
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(project.engine, "before_cursor_execute", capture)
    try:
        first = image_grid(project, None, GridFilters(), limit=10)
        statements.clear()
        image_grid(project, None, GridFilters(), limit=10, after=first.next)
    finally:
        event.remove(project.engine, "before_cursor_execute", capture)
    pages = [(s, p) for s, p in statements if "LIMIT" in s.upper()]
    assert len(pages) == 1 and 11 in tuple(pages[0][1]) and first.items[-1].path in tuple(pages[0][1])


def test_refusals_name_the_field(project):
    for f, field in ((GridFilters(status="gone"), "status"), (GridFilters(sort="size"), "sort"),
                     (GridFilters(label="Kitten"), "label"), (GridFilters(predicted="Kitten"), "predicted"),
                     (GridFilters(search="x" * 201), "q")):  # fmt: skip
        with pytest.raises(LabelwiseError, match=rf"^{field}:"):
            image_grid(project, None, f)
    for cursor in ("garbage", encode_cursor("path", 3), encode_cursor("score", "a")):
        with pytest.raises(LabelwiseError, match=r"^after:"):
            image_grid(project, None, GridFilters(), after=cursor)
    with pytest.raises(LabelwiseError, match=r"^after: a cursor of the score order"):
        image_grid(project, None, GridFilters(sort="confidence"), after=encode_cursor("score", [0.5, 1]))
    assert decode_cursor(encode_cursor("path", "a/b.png")) == ("path", "a/b.png")


def test_sort_by_score_without_scores_says_so(project, tmp_path):
    path = predictions_path(project)
    saved = path.read_bytes()
    try:
        path.unlink()
        page = image_grid(project, None, GridFilters(sort="score"), limit=5)
        assert "no model" in page.notice and [i.path for i in page.items] == sorted(i.path for i in page.items)
        (tmp_path / "p.npz").write_bytes(saved)
        data = dict(np.load(tmp_path / "p.npz"))
        data["score"] = np.full(data["score"].size, np.nan)
        np.savez(path, **data)
        page = image_grid(project, Ranking(1, "typiclust", []), GridFilters(sort="score"), limit=5)
        assert "typiclust" in page.notice and "gives no per-image scores" in page.notice
        assert image_grid(project, None, GridFilters(status="broken", sort="score")).notice is not None
    finally:
        path.write_bytes(saved)
    assert image_grid(project, None, GridFilters(sort="score")).notice is None


def test_the_totals_of_the_common_views_do_not_count_the_image_table(tmp_path):
    """The first page's total (all images of a status; unlabeled) comes from the counts kept per state
    of the pool: its SQLite work on 6,000 images is that on 300 (a count(*) over every row before), and
    it stays exact when an image changes status or an ingest adds one."""
    from tests.project.test_status import label, make_project, sqlite_steps

    views = (GridFilters(), GridFilters(labeled=False), GridFilters(status="broken"))
    steps = {}
    for n in (300, 6000):
        project = make_project(tmp_path / str(n), n)
        try:
            image_grid(project, None, GridFilters(), limit=1)  # the pool's counts, once
            steps[n] = sqlite_steps(project, lambda p=project: [image_grid(p, None, f, limit=1) for f in views])
            ok = n - 6
            assert [image_grid(project, None, f, limit=1).total for f in views] == [ok, ok - 40, 3]
            with project.sessions.begin() as session:
                session.get(Image, 5).status = "broken"  # labeled, found broken
            label(project, 50, 2)
            with project.engine.begin() as conn:
                conn.execute(Image.__table__.insert(), [{"path": "new.png", "content_hash": "f" * 64, "status": "ok"}])
            assert [image_grid(project, None, f, limit=1).total for f in views] == [ok, ok - 40, 4]
        finally:
            project.close()
    assert steps[6000] < 1.2 * steps[300] + 20, steps


def test_a_page_in_path_order_does_not_sort_the_predictions_file(project):
    """The grid's first page (path order) is polled while people label; at a million images the file's
    two sort orders cost the server a fraction of a second per retrain, so they wait for a page that
    sorts by score or confidence."""
    from labelwise.project import grid

    grid._cache.clear()
    ranking = Ranking(1, "margin", [])
    image_grid(project, ranking, GridFilters(sort="path"), limit=20)
    preds = grid._predictions(project)
    assert preds is not None and "by_score" not in vars(preds) and "by_confidence" not in vars(preds)
    image_grid(project, ranking, GridFilters(sort="confidence"), limit=20)
    assert "by_confidence" in vars(preds) and "by_score" not in vars(preds)
