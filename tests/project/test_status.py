"""The dashboard's counts: the same as the full status report, and after a new label computed from
label-sized queries only (the image table is counted once per state of the pool)."""

from __future__ import annotations

import sqlalchemy
from PIL import Image as PILImage
from sqlalchemy import event

from labelwise.project import Project
from labelwise.project.dashboard import compute_status
from labelwise.project.labels import add_annotation
from labelwise.project.status import project_status
from labelwise.store.models import STATUS_BROKEN, STATUS_DUPLICATE, STATUS_OK, Image, LabelClass


def make_project(folder, n_images: int) -> Project:
    (folder / "images").mkdir(parents=True)
    PILImage.new("RGB", (8, 8)).save(folder / "images" / "placeholder.png")
    project = Project.create(folder / "proj", folder / "images", backbone="squeezenet")
    project.add_classes(["a", "b", "c"])
    with project.engine.begin() as conn:
        conn.execute(sqlalchemy.insert(Image), [
            {"path": f"img-{i:05d}.png", "size_bytes": 1, "mtime_ns": 0, "content_hash": f"{i:064x}", "width": 8,
             "height": 8, "reason": None if i % 97 else "bad", "status": _status(i)}
            for i in range(1, n_images + 1)
        ])  # fmt: skip
    for image_id in range(1, 41):  # a label on a broken and on a duplicate image among them (ids 89, 97: no)
        label(project, image_id, image_id % 3)
    return project


def _status(i: int) -> str:
    """Three broken and three duplicate images among the first 300, whatever the size of the pool."""
    return STATUS_BROKEN if i % 97 == 0 and i < 300 else STATUS_DUPLICATE if i % 89 == 0 and i < 300 else STATUS_OK


def label(project: Project, image_id: int, position: int) -> None:
    with project.sessions.begin() as session:
        cls = session.scalar(sqlalchemy.select(LabelClass).where(LabelClass.position == position))
        add_annotation(session, session.get(Image, image_id), cls, annotator="t", source="test")


def sqlite_steps(project: Project, call) -> int:
    """How many SQLite virtual-machine instructions (in tens) ``call`` made: rows visited, whatever the plan."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0  # go on

    def install(conn, cursor, statement, parameters, context, executemany):
        conn.connection.dbapi_connection.set_progress_handler(count, 10)

    event.listen(project.engine, "before_cursor_execute", install)
    try:
        call()
    finally:
        event.remove(project.engine, "before_cursor_execute", install)
        with project.engine.connect() as conn:  # the handler stays on pooled connections otherwise
            conn.connection.dbapi_connection.set_progress_handler(None, 0)
    return steps[0]


def test_counts_are_those_of_the_full_report(tmp_path):
    project = make_project(tmp_path, 300)
    try:
        label(project, 97, 1)  # broken: not counted as labeled
        for _ in range(2):  # computed, then from the pool's cached counts
            status, full = compute_status(project, None, False), project_status(project)
            assert (status.images_ok, status.images_broken, status.images_duplicate) == (
                full["images_ok"], full["images_broken"], full["images_duplicate"])  # fmt: skip
            assert (status.labeled, status.unlabeled, status.classes) == (
                full["labeled"], full["unlabeled"], full["classes"])  # fmt: skip
        assert status.images_broken == 3 and status.images_duplicate == 3 and status.labeled == 40
        with project.sessions.begin() as session:  # a concurrent check: a labeled image found broken
            session.get(Image, 5).status = STATUS_BROKEN
        status = compute_status(project, None, False)
        assert (status.images_broken, status.labeled, status.images_ok) == (4, 39, 300 - 7)
        with project.engine.begin() as conn:  # an ingest: more images
            conn.execute(sqlalchemy.insert(Image), [{"path": "new.png", "content_hash": "f" * 64, "status": STATUS_OK}])
        assert compute_status(project, None, False).unlabeled == 300 - 7 - 39 + 1
    finally:
        project.close()


def test_a_new_label_costs_the_same_on_a_pool_twenty_times_larger(tmp_path):
    """After one new label, recomputing the status must not visit the image rows: its SQLite work on a
    pool of 6,000 images is that on 300 (it grew with the pool when every ok image id was read)."""
    steps = {}
    for n in (300, 6000):
        project = make_project(tmp_path / str(n), n)
        try:
            compute_status(project, None, False)  # the pool's counts, once
            label(project, 50, 2)
            steps[n] = sqlite_steps(project, lambda p=project: compute_status(p, None, False))
            assert compute_status(project, None, False).labeled == 41
        finally:
            project.close()
    assert steps[6000] < 1.2 * steps[300] + 20, steps


def test_multi_label_counts_are_those_of_the_full_report(tmp_path):
    """A label set counts once per class; an explicit none is labeled, with no class."""
    from labelwise.project.multilabel_labels import add_label_set

    (tmp_path / "images").mkdir()
    PILImage.new("RGB", (8, 8)).save(tmp_path / "images" / "placeholder.png")
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet", multi_label=True)
    try:
        project.add_classes(["a", "b", "c"])
        with project.engine.begin() as conn:
            conn.execute(sqlalchemy.insert(Image), [
                {"path": f"{i}.png", "content_hash": f"{i:064x}", "status": _status(i)} for i in range(1, 120)
            ])  # fmt: skip
        with project.sessions.begin() as session:
            classes = {c.position: c for c in session.scalars(sqlalchemy.select(LabelClass))}
            for image_id, positions in ((1, [0, 2]), (2, []), (3, [1]), (97, [0])):  # 97: broken
                add_label_set(session, session.get(Image, image_id), [classes[p] for p in positions],
                              annotator="t", source="test")  # fmt: skip
        status, full = compute_status(project, None, False), project_status(project)
        assert (status.labeled, status.unlabeled, status.classes) == (
            full["labeled"],
            full["unlabeled"],
            full["classes"],
        )
        assert status.labeled == 3 and status.classes == {"a": 1, "b": 1, "c": 1}
    finally:
        project.close()
