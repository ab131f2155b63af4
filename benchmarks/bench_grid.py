"""What one page of the image grid costs (issue 8: "the image grid pages in SQL and never loads the
whole table"; issue 15: the grid's query moved into labelwise.project).

A SQLite project of N image rows (no files or vectors: the grid reads only the database and the
predictions file), a tenth of them labeled, predictions for all. For each view of the grid this
prints the time of one page of 60 (median of ``--repeat`` runs), against the baseline measured in
the same run: the grid as it was before (every image row and every current label loaded, filtered
and sorted in Python, then sliced), kept below as ``load_everything``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy

sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table

from labelwise.project import Project
from labelwise.project.grid import GridFilters, image_grid
from labelwise.project.labels import current_labels
from labelwise.project.training import predictions_path
from labelwise.store.models import Annotation, Image, LabelClass

CLASSES = ["a", "b", "c", "d", "e"]


def make_project(folder: Path, n: int, seed: int = 0) -> Project:
    (folder / "images").mkdir(parents=True)
    project = Project.create(folder / "proj", folder / "images", backbone="squeezenet")
    project.add_classes(CLASSES)
    rng = np.random.default_rng(seed)
    with project.sessions() as session:
        class_ids = list(session.scalars(sqlalchemy.select(LabelClass.id).order_by(LabelClass.position)))
    with project.engine.begin() as conn:
        for start in range(0, n, 50_000):
            conn.execute(sqlalchemy.insert(Image), [
                {"path": f"{CLASSES[i % 5]}/{rng.integers(1 << 40):011x}-{i}.png", "status": "ok",
                 "content_hash": f"{i:064x}"} for i in range(start, min(n, start + 50_000))
            ])  # fmt: skip
        ids = np.arange(1, n + 1)
        labeled = rng.choice(ids, n // 10, replace=False)
        conn.execute(sqlalchemy.insert(Annotation), [
            {"image_id": int(i), "class_id": class_ids[int(i) % 5], "annotator": "bench", "source": "cli",
             "superseded": False} for i in labeled
        ])  # fmt: skip
    path = predictions_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, image_ids=ids, predicted=rng.integers(0, 5, n), confidence=rng.random(n), score=rng.random(n))
    return project


def load_everything(project: Project, f: GridFilters, offset: int, limit: int) -> list[int]:
    """The grid before it paged in SQL (src/labelwise/server/grid.py until issue 15), reduced to its work."""
    classes = project.class_names()
    with project.sessions() as session:
        query = sqlalchemy.select(Image.id, Image.path, Image.reason).where(Image.status == f.status)
        rows = session.execute(query.order_by(Image.path)).all()
        labels = current_labels(session)
    data = np.load(predictions_path(project))
    preds = {int(i): (int(p), float(c), float(s)) for i, p, c, s in
             zip(data["image_ids"], data["predicted"], data["confidence"], data["score"], strict=True)}  # fmt: skip
    items = []
    for image_id, _path, _reason in rows:
        label = None if image_id not in labels else classes[labels[image_id]]
        pred = preds.get(image_id)
        if f.labeled is not None and (label is not None) != f.labeled:
            continue
        if f.label and label != f.label:
            continue
        if f.predicted and (pred is None or classes[pred[0]] != f.predicted):
            continue
        items.append((image_id, None if pred is None else pred[2]))
    if f.sort == "score":
        items.sort(key=lambda i: -(i[1] if i[1] is not None else -np.inf))
    return [i for i, _ in items[offset : offset + limit]]


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    views = [
        ("first page, by path", GridFilters(), False),
        ("page 500, by path (cursor)", GridFilters(), True),
        ("unlabeled, by path", GridFilters(labeled=False), False),
        ("label = b", GridFilters(label="b"), False),
        ("predicted = c", GridFilters(predicted="c"), False),
        ("sorted by score", GridFilters(sort="score"), False),
    ]
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), n)
            for name, f, deep in views:
                after, offset = None, 0
                if deep:  # the cursor of page 500 (or of the last page on a small pool)
                    page = image_grid(project, None, f, offset=min(500 * 60, n - 60) - 1, limit=1)
                    after, offset = page.next, min(500 * 60, n - 60)
                new = median_ms(lambda p=project, f=f, a=after: image_grid(p, None, f, limit=60, after=a), args.repeat)
                old = median_ms(lambda p=project, f=f, o=offset: load_everything(p, f, o, 60), args.repeat)
                page = image_grid(project, None, f, limit=60, after=after)
                assert [i.image_id for i in page.items] == load_everything(project, f, offset, 60), name
                rows.append([f"{n:,}", name, f"{new:.1f}", f"{old:.1f}", f"{old / new:.1f}x"])
            project.close()
    print_table(["images", "view", "paged (ms)", "load everything (ms)", "speed-up"], rows)


if __name__ == "__main__":
    main()
