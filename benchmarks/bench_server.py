"""Annotation server latency under load, on SQLite and on PostgreSQL.

A synthetic project of 100,000 images (database rows and stored embeddings; the files are not
needed to serve the queue), retraining in the background after every 10 labels, and 20 simulated
annotators each looping "lease the next image, label it". Reports p50 and p99 of that pair of
requests, and the time from the 10th new label to the new ranking being served (measured with the
server otherwise idle). The baseline in the same run is a request that does no work (/login).

Closed loop (the default): each annotator starts the next pair as soon as the last one is answered,
which measures saturation throughput. Open loop (``--rate R``): pairs arrive at R per second across
all annotators as a Poisson process (each annotator waits an exponential time of mean 20/R seconds
between the start of its pairs), the pace of real people; latency is then measured from each
pair's scheduled start, so a server that falls behind is charged for the wait. ``--json`` prints one
JSON line per run (keys: images, backend, rate, pairs_per_s, p50_ms, p99_ms, refresh_s,
model_versions, errors, and a few more) instead of the table.

During the load a dashboard polls once a second: ``GET /api/status`` and the pages (``GET /`` the
dashboard, ``/annotate``, ``/images`` the grid and ``/api/images`` its first page of 60): ``status_median_ms``
and ``pages_ms`` (median and p99 of each). ``--strategy`` sets the project's strategy (default: the
project default, ``auto``). ``--keep DIR``: the synthetic project is built once into DIR and copied for
each run (a PostgreSQL database from a template database), so a 1M project is not built again per run;
every run still starts from the same fresh state (no ranking, no models). ``--restart``: after the
run, the server is started again (the saved ranking is served at once) and its first retrain timed
(``restart_retrain_s``: the pool loaded in a new training process).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).parents[1]))
from labelwise.project import Project
from labelwise.project.labels import add_annotation
from labelwise.project.settings import update_settings
from labelwise.project.users import add_user
from labelwise.store.models import STATUS_OK, Image, LabelClass
from tests.utils.server import ServerProcess

CLASSES = [f"class-{i}" for i in range(10)]


def synthetic_project(folder: Path, n: int, db_url: str) -> tuple[Project, list[str], str]:
    images = folder / "images"
    images.mkdir(parents=True)
    PILImage.new("RGB", (8, 8)).save(images / "placeholder.png")
    project = Project.create(folder / "project", images, backbone="squeezenet", db_url=db_url)
    project.add_classes(CLASSES)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 512)).astype(np.float32)
    truth = rng.integers(0, 10, n)
    keys = [hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest() for i in range(n)]
    for start in range(0, n, 20_000):
        part = slice(start, min(start + 20_000, n))
        vectors = rng.normal(size=(part.stop - part.start, 512)).astype(np.float32) + centres[truth[part]]
        project.store.add(keys[part], vectors)
    with project.engine.begin() as conn:
        conn.execute(sqlalchemy.insert(Image), [
            {"path": f"img-{i:06d}.png", "size_bytes": 100, "mtime_ns": 0, "content_hash": keys[i], "width": 8,
             "height": 8, "status": STATUS_OK}
            for i in range(n)
        ])  # fmt: skip
    with project.sessions.begin() as session:
        classes = {c.position: c for c in session.scalars(sqlalchemy.select(LabelClass))}
        for image in session.scalars(sqlalchemy.select(Image).limit(200)):
            add_annotation(session, image, classes[int(truth[image.id - 1])], annotator="seed", source="bench")
    tokens = [add_user(project, f"annotator-{i}", "annotator") for i in range(20)]
    admin = add_user(project, "boss", "admin")
    update_settings(project, {"retrain_every": 10, "queue_size": 500}, "bench")
    return project, tokens, admin


def annotator(url: str, token: str, until: float, latencies: list[float], errors: list[str],
              mean_gap: float | None = None, seed: int = 0) -> None:  # fmt: skip
    """Lease then label, until ``until``. ``mean_gap``: open loop, pairs scheduled at exponential gaps of
    that mean (seconds); ``None``: closed loop, the next pair as soon as the last is answered."""
    rng = np.random.default_rng(seed)
    scheduled = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for _ in range(10_000):  # bounded
            if mean_gap is not None:
                scheduled += rng.exponential(mean_gap)
                time.sleep(max(0.0, scheduled - time.perf_counter()))
            if time.monotonic() > until:
                return
            start = time.perf_counter() if mean_gap is None else scheduled
            r = c.post("/api/queue/next", json={"n": 1})
            items = r.json().get("items", []) if r.status_code == 200 else []
            if not items:
                errors.append(f"queue {r.status_code}")
                continue
            r = c.post("/api/annotations", json={"image_id": items[0]["image_id"], "label": "class-3"})
            latencies.append(time.perf_counter() - start)
            if r.status_code != 201:
                errors.append(f"annotate {r.status_code} {r.text[:80]}")


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory of ``pid`` and its children (the training process), in MB (Linux /proc): all of
    it, and the part not backed by files (what a memory-mapped file's pages, which the kernel may drop
    and read again, do not count in)."""
    total = shared = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/statm").read_text().split()
            total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
            shared += int(fields[2]) * os.sysconf("SC_PAGE_SIZE")
            # Every thread's children: the training process is started by the retrainer's thread, and
            # /proc/PID/task/PID/children lists only the main thread's (it was missed before).
            tasks = Path(f"/proc/{p}/task").iterdir()
            children = [c for task in tasks for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        pids += [int(c) for c in children]
    return total / 1e6, (total - shared) / 1e6


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children, alive or reaped (Linux /proc)."""
    total = 0.0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
            tasks = Path(f"/proc/{p}/task").iterdir()
            children = [c for task in tasks for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        pids += [int(c) for c in children]
    return total


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


PAGES = {"dashboard": "/", "annotate": "/annotate", "grid": "/images", "grid_data": "/api/images?sort=path&limit=60"}


def _built(keep: Path | None, backend: str, n: int, pg_admin: str, admin_engine, work: Path, db_name: str):
    """The project to serve, in ``work``: built there, or copied from the one built once in ``keep``."""
    db_url = "" if admin_engine is None else _pg_url(pg_admin, db_name)
    if keep is None:
        if admin_engine is not None:
            _sql(admin_engine, f'CREATE DATABASE "{db_name}"')
        project, tokens, admin = synthetic_project(work, n, db_url)
        project.close()
        return project.folder, tokens, admin
    template = keep / f"{backend}-{n}"
    template_db = f"labelwise_bench_keep_{n}"
    if not (template / "done.json").exists():
        shutil.rmtree(template, ignore_errors=True)
        if admin_engine is not None:
            _sql(admin_engine, f'DROP DATABASE IF EXISTS "{template_db}" WITH (FORCE)')
            _sql(admin_engine, f'CREATE DATABASE "{template_db}"')
        project, tokens, admin = synthetic_project(
            template, n, "" if admin_engine is None else _pg_url(pg_admin, template_db)
        )
        project.close()
        (template / "done.json").write_text(json.dumps({"tokens": tokens, "admin": admin}))
    saved = json.loads((template / "done.json").read_text())
    work.rmdir()
    subprocess.run(["cp", "-r", "--reflink=auto", str(template), str(work)], check=True)
    folder = work / "project"
    if admin_engine is not None:
        _sql(admin_engine, f'CREATE DATABASE "{db_name}" TEMPLATE "{template_db}"')
        project = Project(folder)
        project.config.db_url = db_url
        project.save_config()
        project.close()
    return folder, saved["tokens"], saved["admin"]


def _pg_url(pg_admin: str, db_name: str) -> str:
    return sqlalchemy.make_url(pg_admin).set(database=db_name).render_as_string(hide_password=False)


def _sql(engine, statement: str) -> None:
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(statement))


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    q = np.quantile(values, [0.5, 0.99])
    return {"p50": round(float(q[0]), 1), "p99": round(float(q[1]), 1)}


def run(backend: str, n: int, seconds: float, pg_admin: str, rate: float | None = None,
        strategy: str | None = None, keep: Path | None = None, restart: bool = False) -> dict:  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="labelwise-bench-server-"))
    db_name = f"labelwise_bench_{uuid.uuid4().hex[:8]}"
    admin_engine = None
    if backend == "postgresql":
        admin_engine = sqlalchemy.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    try:
        start = time.perf_counter()
        folder, tokens, admin = _built(keep, backend, n, pg_admin, admin_engine, work, db_name)
        build_s = time.perf_counter() - start
        if strategy is not None:
            project = Project(folder)
            update_settings(project, {"strategy": strategy}, "bench")
            project.close()
        server = ServerProcess(folder)
        server.start(timeout=300)
        started = time.perf_counter()
        try:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as c:
                # Long: a fresh million-image pool on the loaded shared machine took 415 s in one process.
                if not wait_for(lambda: c.get("/api/status").json()["serving_version"] is not None, 1800):
                    raise RuntimeError("no first ranking within 30 minutes")
                first_ranking_s = time.perf_counter() - started
                baseline = []
                for _ in range(50):
                    t = time.perf_counter()
                    httpx.get(server.url + "/login")
                    baseline.append(time.perf_counter() - t)
                latencies: list[float] = []
                errors: list[str] = []
                until = time.monotonic() + seconds
                mean_gap = None if rate is None else len(tokens) / rate
                versions_before = c.get("/api/status").json()["serving_version"]
                threads = [threading.Thread(target=annotator,
                                            args=(server.url, t, until, latencies, errors, mean_gap, i))
                           for i, t in enumerate(tokens)]  # fmt: skip
                status_ms: list[float] = []
                pages_ms: dict[str, list[float]] = {name: [] for name in PAGES}
                rss = rss_anon = 0.0
                client_cpu0, server_cpu0 = time.process_time(), cpu_s(server.proc.pid)
                for t in threads:
                    t.start()
                while any(t.is_alive() for t in threads):  # a dashboard polling during the load
                    t0 = time.perf_counter()
                    c.get("/api/status")
                    status_ms.append(1000 * (time.perf_counter() - t0))
                    for name, path in PAGES.items():  # and a person opening each page
                        t0 = time.perf_counter()
                        r = c.get(path)
                        pages_ms[name].append(1000 * (time.perf_counter() - t0))
                        if r.status_code != 200:
                            errors.append(f"{path} {r.status_code}")
                    now, anonymous = rss_mb(server.proc.pid)  # server and training process, at their peak
                    rss, rss_anon = max(rss, now), max(rss_anon, anonymous)
                    time.sleep(1.0)
                for t in threads:
                    t.join()
                # Who used the cores during the load: this process (the 20 clients and the dashboard poll)
                # and the server with its training process. The clients share the machine with the server.
                client_cpu = time.process_time() - client_cpu0
                server_cpu = cpu_s(server.proc.pid) - server_cpu0
                versions_during = c.get("/api/status").json()["serving_version"]
                # Quiet now: the time from the 10th new label to the new ranking being served.
                wait_for(lambda: not c.get("/api/status").json()["training"], 300)
                c.post("/api/train")
                wait_for(lambda: c.get("/api/status").json()["serving_version"] > versions_during, 300)
                wait_for(lambda: not c.get("/api/status").json()["training"], 300)
                before = c.get("/api/status").json()["serving_version"]
                items = httpx.post(server.url + "/api/queue/next", json={"n": 10},
                                   headers={"Authorization": f"Bearer {tokens[0]}"}).json()["items"]  # fmt: skip
                for item in items:
                    httpx.post(server.url + "/api/annotations", json={"image_id": item["image_id"], "label": "class-1"},
                               headers={"Authorization": f"Bearer {tokens[0]}"})  # fmt: skip
                tenth = time.perf_counter()
                wait_for(lambda: c.get("/api/status").json()["serving_version"] > before, 300)
                swap_s = time.perf_counter() - tenth
        finally:
            server.stop()
        restart_s = None
        if restart:  # a server restart: the saved ranking is served at once; time its first retrain
            server = ServerProcess(folder)
            server.start(timeout=300)
            try:
                with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as c:
                    before = c.get("/api/status").json()["serving_version"]
                    wait_for(lambda: not c.get("/api/status").json()["training"], 300)
                    t0 = time.perf_counter()
                    c.post("/api/train")
                    wait_for(lambda: c.get("/api/status").json()["serving_version"] > before, 900)
                    restart_s = round(time.perf_counter() - t0, 1)
            finally:
                server.stop()
        q = np.quantile(latencies, [0.5, 0.9, 0.99]) if latencies else [float("nan")] * 3
        return {
            "images": n, "backend": backend, "rate": rate, "pairs_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(1000 * q[0], 1), "p90_ms": round(1000 * q[1], 1), "p99_ms": round(1000 * q[2], 1),
            "refresh_s": round(swap_s, 2), "model_versions": versions_during - versions_before,
            "errors": len(errors), "pairs": len(latencies), "idle_ms": round(1000 * statistics.median(baseline), 1),
            "status_median_ms": round(statistics.median(status_ms), 1) if status_ms else None,
            "first_ranking_s": round(first_ranking_s, 1), "rss_mb_peak": round(rss),
            "rss_anon_mb_peak": round(rss_anon), "build_s": round(build_s),
            "load": os.getloadavg()[0], "strategy": strategy or "auto", "restart_retrain_s": restart_s,
            "pages_ms": {name: _quantiles(values) for name, values in pages_ms.items()},
            "client_cpu_s": round(client_cpu, 1), "server_cpu_s": round(server_cpu, 1),
        }  # fmt: skip
    finally:
        if admin_engine is not None:
            _sql(admin_engine, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            admin_engine.dispose()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rate", type=float, default=None, help="open loop: label pairs per second, all annotators")
    parser.add_argument("--json", action="store_true", help="one JSON line per run instead of the table")
    parser.add_argument("--strategy", default=None, help="the project's strategy (default: auto)")
    parser.add_argument("--restart", action="store_true", help="then restart the server and time its first retrain")
    parser.add_argument(
        "--keep", type=Path, default=None, help="build the project once in this folder, copy it per run"
    )
    args = parser.parse_args()
    runs = []
    for backend in args.backends.split(","):
        runs.append(run(backend, args.images, args.seconds, args.pg, args.rate, args.strategy, args.keep, args.restart))
        if args.json:
            print(json.dumps(runs[-1]), flush=True)
    if args.json:
        return
    headers = ["db", "images", "label pairs", "pairs/s", "p50 ms", "p99 ms", "idle request ms",
               "model versions", "10th label -> new ranking s", "errors"]  # fmt: skip
    rows = [[r["backend"], f"{r['images']:,}", str(r["pairs"]), str(r["pairs_per_s"]), str(r["p50_ms"]),
             str(r["p99_ms"]), str(r["idle_ms"]), str(r["model_versions"]), str(r["refresh_s"]), str(r["errors"])]
            for r in runs]  # fmt: skip
    pace = "closed loop" if args.rate is None else f"open loop, {args.rate} pairs/s in all (Poisson)"
    print(f"20 annotators ({pace}): POST /api/queue/next (n=1) then POST /api/annotations; retraining every 10 labels")
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import print_table

    print_table(headers, rows)


if __name__ == "__main__":
    main()
