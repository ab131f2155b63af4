"""Serve what was proven (issue 17): scripted annotators through a real ``labelwise serve``.

Fashion-MNIST test pictures (the Debian package's files, as in ``labelwise demo``) are ingested
into a fresh project with default settings (``auto``, ``retrain_every`` 10, queue 200). Scripted
annotators, 1 and then 5 in parallel, each loop: ``POST /api/queue/next {"n": 1}``, wait ``--pace``
seconds (a person looking at the image, so background retrains land as they would), then
``POST /api/annotations`` with the true class. Accuracy of the same logistic head on the same
embeddings, trained on the first k images labeled and tested on the rest of the pool, at each k,
against the same measure for random picks and for the simulator (``run_one``, ``auto``, batches
of 10, from 0 labels) on the same embeddings. The server always draws with seed 0, so its runs
differ only by timing (which retrain the people are ahead of); the simulator's seed 0 with the
server's head (``--head``, default ``auto`` as the server's default setting) is the like-for-like
row; seed 0 with the logistic head is kept as the row earlier runs printed.

Two tables: accuracy of the logistic head (comparable across runs and heads), and accuracy of the
``auto`` head (``learn/choose.AutoHead``: what the server's default setting trains on those labels,
the semi-supervised candidates seeing the whole pool unlabeled), the model people are served.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table

from labelwise.demo import write_demo_images
from labelwise.learn import Head
from labelwise.learn.choose import fit_on_pool, make_head
from labelwise.loop.datasets import FASHION_MNIST_CLASSES, Dataset, fashion_mnist_arrays
from labelwise.loop.simulate import run_one
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.pool import load_pool
from labelwise.project.users import add_user
from labelwise.store.models import Annotation
from tests.utils.server import ServerProcess

CLASSES = [name.replace("/", "-") for name in FASHION_MNIST_CLASSES]


def accuracy(X: np.ndarray, y: np.ndarray, order: np.ndarray, k: int, head: str = "logistic",
             strategy: str | None = None) -> float:  # fmt: skip
    """The head ``head`` trained on the first ``k`` of ``order`` (semi-supervised heads also see the
    rest of the pool, unlabeled, as on the server), tested on the rest of the pool. ``strategy``:
    what picked ``order`` (``auto``'s default head at 1 label per class depends on it)."""
    train = order[:k]
    rest = np.ones(len(y), dtype=bool)
    rest[train] = False
    if head == "logistic":
        model = Head(classes=list(range(len(CLASSES)))).fit(X[train], y[train])
    else:
        partial = np.full(len(y), -1, dtype=np.int64)
        partial[train] = y[train]
        model = fit_on_pool(make_head(head, list(range(len(CLASSES))), strategy=strategy), X, partial)
    return float((model.predict(X[rest]) == y[rest]).mean())


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def annotate(url: str, token: str, truth: dict[str, str], target: int, pace: float, counter: list[int],
             lock: threading.Lock, errors: list[str]) -> None:  # fmt: skip
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        while True:
            with lock:
                if counter[0] >= target:
                    return
                counter[0] += 1  # reserve one label of the budget
            r = c.post("/api/queue/next", json={"n": 1})
            items = r.json().get("items", []) if r.status_code == 200 else []
            if not items:
                errors.append(f"queue {r.status_code}")
                return
            time.sleep(pace)
            item = items[0]
            r = c.post("/api/annotations", json={"image_id": item["image_id"], "label": truth[item["path"]]})
            if r.status_code != 201:
                errors.append(f"annotate {r.status_code} {r.text[:80]}")


def served_order(folder: Path, people: int, budget: int, pace: float, truth: dict[str, str]) -> tuple[list[int], int]:
    """Image ids in labeling order after ``people`` annotators label ``budget`` images; and errors."""
    project = Project(folder)
    tokens = [add_user(project, f"person-{people}-{i}-{time.time_ns()}", "annotator") for i in range(people)]
    admin = add_user(project, f"admin-{time.time_ns()}", "admin")
    project.close()
    server = ServerProcess(folder)
    server.start(timeout=300)
    errors: list[str] = []
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=120) as c:
            wait_for(lambda: c.get("/api/status").json()["serving_version"] is not None, 600)
        counter, lock = [0], threading.Lock()
        threads = [threading.Thread(target=annotate, args=(server.url, t, truth, budget, pace, counter, lock, errors))
                   for t in tokens]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    project = Project(folder)
    with project.sessions() as session:
        order = list(session.scalars(select(Annotation.image_id).order_by(Annotation.id)))
    project.close()
    return order, len(errors)


def fresh_copy(template: Path, work: Path, name: str) -> Path:
    """A copy of the ingested, unlabeled project (SQLite, embeddings), so each run starts from zero."""
    target = work / name
    shutil.copytree(template, target, ignore=shutil.ignore_patterns("server-*.log"))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--backbone", default="squeezenet")
    parser.add_argument("--people", default="1,5", help="numbers of annotators, comma-separated; none: no server runs")
    parser.add_argument("--random-runs", type=int, default=5, help="random orders (one permutation each)")
    parser.add_argument("--runs", type=int, default=1, help="server runs per number of people")
    parser.add_argument("--pace", type=float, default=1.5, help="seconds each person looks at an image")
    parser.add_argument("--checkpoints", default="10,20,30,50,100")
    parser.add_argument("--seeds", type=int, default=3, help="simulator seeds (random uses 5)")
    parser.add_argument("--head", default="auto", help="the simulator's head: the server's head setting")
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    budget = max(checkpoints)
    work = Path(tempfile.mkdtemp(prefix="labelwise-bench-served-"))
    try:
        start = time.perf_counter()
        images = write_demo_images(work / "images", args.images)
        template = work / "template"
        project = Project.create(template, images, backbone=args.backbone)
        project.add_classes(CLASSES)
        ingest_folder(project)
        pool = load_pool(project)
        project.close()
        _, _, _, test_y = fashion_mnist_arrays()
        y = np.array([int(test_y[int(Path(p).stem.split("-")[1])]) for p in pool.paths])
        truth = {p: CLASSES[c] for p, c in zip(pool.paths, y, strict=True)}
        index_of = {int(i): k for k, i in enumerate(pool.image_ids)}
        print(f"{len(y)} images embedded by {args.backbone} in {time.perf_counter() - start:.0f} s", flush=True)

        tables: dict[str, list[list[str]]] = {"logistic": [], "auto": []}

        paired: list[list[str]] = []

        def add_row(name: str, orders: list[np.ndarray], strategy: str = "auto") -> None:
            # strategy: what picked the orders (the server's and the simulator's: auto).
            curves = {head: np.array([[accuracy(pool.X, y, o, k, head, strategy) for k in checkpoints]
                                      for o in orders])
                      for head in tables}  # fmt: skip
            for head, rows in tables.items():
                rows.append([name, str(len(orders)), *(f"{a:.3f}" for a in curves[head].mean(axis=0))])
                print(f"[{head} head]", *rows[-1], flush=True)
            # The auto head against the logistic head on the same labels, in points: mean ± standard error.
            gain = 100 * (curves["auto"] - curves["logistic"])
            se = (
                gain.std(axis=0, ddof=1) / np.sqrt(len(orders))
                if len(orders) > 1
                else np.full(len(checkpoints), np.nan)
            )
            paired.append(
                [name, str(len(orders)), *(f"{g:+.1f} ± {e:.1f}" for g, e in zip(gain.mean(axis=0), se, strict=True))]
            )

        rng = np.random.default_rng(0)
        add_row("random", [rng.permutation(len(y)) for _ in range(args.random_runs)], "random")
        dataset = Dataset("served", pool.X, y, pool.X, y, tuple(CLASSES))

        def simulated(seed: int, head: str) -> np.ndarray:
            _, loop = run_one(dataset, "auto", seed, 0, 10, budget, head=head)
            return np.concatenate([r.selected for r in loop.history if r.selected is not None])

        sim_orders = [simulated(seed, args.head) for seed in range(args.seeds)]
        add_row(f"simulator, auto, {args.head} head, batches of 10", sim_orders)
        # The server draws with seed 0 (its k-th retrain as the simulator's round k of seed 0).
        add_row(f"simulator, seed 0, {args.head} head (the server's seed and head)", sim_orders[:1])
        if args.head != "logistic":
            add_row("simulator, seed 0, logistic head (the earlier runs' row)", [simulated(0, "logistic")])
        for people in (int(p) for p in args.people.split(",") if p not in ("", "none")):
            orders = []
            for run in range(args.runs):
                folder = fresh_copy(template, work, f"run-{people}-{run}")
                t0 = time.perf_counter()
                served, errors = served_order(folder, people, budget, args.pace, truth)
                orders.append(np.array([index_of[i] for i in served]))
                print(f"  {people} people, run {run}: {len(orders[-1])} labels in {time.perf_counter() - t0:.0f} s, "
                      f"{errors} errors", flush=True)  # fmt: skip
                shutil.rmtree(folder, ignore_errors=True)
            add_row(f"served by labelwise serve, {people} {'person' if people == 1 else 'people'}", orders)
        for head, rows in tables.items():
            print(f"\n{len(y)} Fashion-MNIST test images, {args.backbone}, default settings, {args.pace} s per label; "
                  f"accuracy of the {head} head on the rest of the pool")  # fmt: skip
            print_table(["picked by", "runs", *(f"{k} labels" for k in checkpoints)], rows)
        print("\nthe auto head minus the logistic head on the same labels, points (mean ± standard error)")
        print_table(["picked by", "runs", *(f"{k} labels" for k in checkpoints)], paired)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
