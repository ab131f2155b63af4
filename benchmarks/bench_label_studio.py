"""labelwise driving a real Label Studio: label efficiency, latency, and sync time.

Run with ``nice -n 10 python benchmarks/bench_label_studio.py [--images 1000] [--big 10000]``
(PYTHONPATH with the repository root, for the test helper that starts Label Studio). It uploads
Fashion-MNIST images through Label Studio's API and measures:

1. A scripted annotator (``/next``, then the true class) under Label Studio's sequential and random
   sampling and under labelwise's ranking (``sync`` every 10 labels): the accuracy of labelwise's
   model after 20, 50 and 100 labels, on the images not yet labeled (same backbone and head in
   every arm; only the order of the labels differs).
2. Seconds from the 10th new annotation to Label Studio serving a new ranking, ``--every 5``.
3. A ``--big``-task project: first sync pass and a pass when nothing changed.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays
from labelwise.project import Project
from labelwise.project.label_studio import sync_once
from labelwise.project.label_studio_api import LabelStudioClient
from labelwise.project.label_studio_tasks import list_tasks
from labelwise.project.training import predictions_path
from tests.label_studio_server import LabelStudio, choice_result, classification_config, start_label_studio, stop

CLASSES = [c.replace("/", "-") for c in FASHION_MNIST_CLASSES]
CHECKPOINTS = (20, 50, 100)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_project(api: httpx.Client, title: str, sampling: str, x: np.ndarray, start: int) -> tuple[int, dict]:
    """Upload ``x`` as tasks; returns the project id and task id -> index into ``x``."""
    project = api.post("/api/projects", json={"title": title, "label_config": classification_config(CLASSES),
                                              "sampling": sampling}).json()  # fmt: skip
    pid = project["id"]
    # Django accepts at most 100 files per request.
    for lo in range(0, len(x), 90):
        files = [
            (f"f{i}", (f"img{start + i:06d}.png", png(x[i]), "image/png")) for i in range(lo, min(lo + 90, len(x)))
        ]
        answer = api.post(f"/api/projects/{pid}/import", files=files)
        answer.raise_for_status()
    return pid, task_index(api, pid, start)


def task_index(api: httpx.Client, pid: int, start: int = 0) -> dict[int, int]:
    """Task id -> index into the uploaded array, from the image's file name (``img<index>.png``)."""
    client = LabelStudioClient(str(api.base_url), api.headers["Authorization"].split()[-1])
    tasks = list_tasks(client, pid).tasks  # paged: Label Studio's export of 10,000 tasks outlasts a client's wait
    client.close()
    return {t["id"]: int(t["data"]["image"].rsplit("img", 1)[1][:6]) - start for t in tasks}


def pool_accuracy(folder: Path, index: dict, truth: np.ndarray, labeled: set[int]) -> float:
    """Accuracy of the last model's predicted class on the tasks not labeled yet."""
    project = Project(folder)
    saved = np.load(predictions_path(project))
    with project.sessions() as session:
        from sqlalchemy import select

        from labelwise.store.models import Image as Row

        paths = dict(session.execute(select(Row.id, Row.path)).all())
    classes = project.class_names()
    project.close()
    hits = total = 0
    for image_id, k in zip(saved["image_ids"], saved["predicted"], strict=True):
        task = int(paths[int(image_id)].split("-")[1].split(".")[0])
        if task in labeled:
            continue
        hits += classes[int(k)] == CLASSES[truth[index[task]]]
        total += 1
    return hits / total


def run_arm(ls, api, name, sampling, x, y, start, work: Path) -> dict[int, float]:
    labelwise = sampling == "labelwise"
    pid, index = make_project(api, f"bench {name}", "Sequential sampling" if labelwise else sampling, x, start)
    client = LabelStudioClient(ls.url, ls.legacy_token)
    folder = work / name
    # Fetch + embed; the labelwise arm also writes its first (cold-start) ranking, as `sync --once` does.
    sync_once(folder, client, pid, backbone="squeezenet", drive_queue=labelwise)
    labeled: set[int] = set()
    accuracy = {}
    while len(labeled) < max(CHECKPOINTS):
        task = api.get(f"/api/projects/{pid}/next").json()
        api.post(f"/api/tasks/{task['id']}/annotations", json={"result": choice_result(CLASSES[y[index[task["id"]]]])})
        labeled.add(task["id"])
        n = len(labeled)
        if n in CHECKPOINTS or (labelwise and n % 10 == 0):
            sync_once(folder, client, pid, force_train=True, drive_queue=labelwise)
            if n in CHECKPOINTS:
                accuracy[n] = pool_accuracy(folder, index, y, labeled)
                print(f"  {name}: {n} labels, accuracy {accuracy[n]:.3f}", flush=True)
    if labelwise:
        accuracy["latency"] = latency(ls, api, pid, folder, index, y)
    client.close()
    return accuracy


def latency(ls, api, pid, folder, index, y) -> float:
    """Seconds from the 10th new annotation to Label Studio's project holding a new model version,
    with the command a team runs (``labelwise label-studio sync ... --every 5``) polling."""
    command = [sys.executable, "-m", "labelwise.cli", "label-studio", "sync", str(folder), "--url", ls.url,
               "--token", ls.legacy_token, "--ls-project", str(pid), "--every", "5"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    poller = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        poller.stdout.readline()  # its first pass is done (nothing new: no retraining)
        before = api.get(f"/api/projects/{pid}").json()["model_version"]
        for _ in range(10):
            task = api.get(f"/api/projects/{pid}/next").json()
            result = choice_result(CLASSES[y[index[task["id"]]]])
            api.post(f"/api/tasks/{task['id']}/annotations", json={"result": result})
        t0 = time.perf_counter()
        while (now := api.get(f"/api/projects/{pid}").json()["model_version"]) == before:
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        served = api.get(f"/api/projects/{pid}/next").json()["id"]
        scores = [p["score"] for p in api.get("/api/predictions", params={"task": served}).json()
                  if p["model_version"] == now]  # fmt: skip
    finally:
        poller.terminate()
        poller.wait(30)
    print(f"  from the 10th new annotation to the new ranking served: {seconds:.1f} s "
          f"({before} -> {now}; /next then served a task of score {scores})", flush=True)  # fmt: skip
    return seconds


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def big_sync(ls, api, args, x_train, y_train, work: Path) -> None:
    """A ``--big``-task project: the first pass, two quiet passes, a pass after 10 new labels, and, as the
    baseline of the same run, one call of Label Studio's full export (what every pass read before)."""
    if args.big_project:
        pid = args.big_project
    else:
        t = time.perf_counter()
        pid, _ = make_project(api, "bench big", "Sequential sampling", x_train[: args.big], 0)
        print(f"uploaded {args.big} tasks in {time.perf_counter() - t:.0f} s", flush=True)
    index = task_index(api, pid)
    client = LabelStudioClient(ls.url, ls.legacy_token)
    times: dict[str, tuple[float, str]] = {}  # what -> (seconds, load average right after)

    def timed(name: str, **kwargs) -> None:
        t = time.perf_counter()
        report = sync_once(work / "big", client, pid, **kwargs)
        times[name] = (time.perf_counter() - t, load_average())
        print(f"  {name}: {report.summary} (load {times[name][1]})", flush=True)

    timed("first pass", backbone="squeezenet")
    timed("quiet pass")
    timed("quiet pass again")
    for _ in range(10):
        task = api.get(f"/api/projects/{pid}/next").json()
        result = choice_result(CLASSES[y_train[index[task["id"]]]])
        api.post(f"/api/tasks/{task['id']}/annotations", json={"result": result})
    timed("pass after 10 new labels")
    client.close()
    t = time.perf_counter()
    try:
        everything = {"exportType": "JSON", "download_all_tasks": "true"}
        exported = len(api.get(f"/api/projects/{pid}/export", params=everything, timeout=1800).json())
        name = f"baseline: Label Studio's full export, one call ({exported} tasks)"
    except httpx.HTTPError as exc:
        name = f"baseline: Label Studio's full export failed: {exc}"
    times[name] = (time.perf_counter() - t, load_average())
    print(f"\nsync of {len(index)} tasks")
    for name, (seconds, load) in times.items():
        print(f"  {name}: {seconds:.1f} s  (load average {load})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000, help="tasks of the sync-time project (0: skip)")
    parser.add_argument("--arms", default="sequential,random,labelwise", help="label-efficiency arms ('': none)")
    parser.add_argument("--url", help="a running Label Studio (default: start one)")
    parser.add_argument("--token", help="its legacy token, with --url")
    parser.add_argument("--big-project", type=int, help="an existing project of the --big images on --url (no upload)")
    args = parser.parse_args()
    x_train, y_train, _, _ = fashion_mnist_arrays()
    work = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    (work / "ls").mkdir()
    ls = LabelStudio(args.url, args.token, "", "", None) if args.url else start_label_studio(work / "ls")
    try:
        api = ls.api()
        x, y = x_train[: args.images], y_train[: args.images]
        results = {}
        samplings = {"sequential": "Sequential sampling", "random": "Uniform sampling", "labelwise": "labelwise"}
        for name in [a for a in args.arms.split(",") if a]:
            print(f"arm {name}", flush=True)
            t = time.perf_counter()
            results[name] = run_arm(ls, api, name, samplings[name], x, y, 0, work)
            print(f"  arm done in {time.perf_counter() - t:.0f} s", flush=True)
        if results:
            print(f"\naccuracy on the unlabeled rest of {args.images} images (labelwise's head, squeezenet)")
            print("labels  " + "  ".join(f"{n:>10}" for n in results))
            for k in CHECKPOINTS:
                print(f"{k:>6}  " + "  ".join(f"{results[n][k]:>10.3f}" for n in results))
        if args.big:
            big_sync(ls, api, args, x_train, y_train, work)
    finally:
        if ls.process is not None:
            stop(ls.process)


if __name__ == "__main__":
    main()
