"""What one lease + label pair costs the database, without HTTP: the ceiling of a saturated server.

On SQLite one write transaction runs at a time (the server's writers take turns, store/db.py), so a
server driven in a closed loop cannot serve pairs faster than one thread doing them back to back. This
runs ``lease_next`` then ``annotate`` in one thread on a copy of ``bench_server.py``'s synthetic project
(``--keep DIR`` as there; built if missing) and prints one JSON line: wall and CPU milliseconds per
pair, commits per pair, the time spent in commits (SQLite ``synchronous=FULL``: a WAL fsync each), and
``ceiling_pairs_per_s`` = 1000 / wall ms. The baseline in the same run is an empty write transaction
with its commit (``empty_commit_ms``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from bench_server import _built

from labelwise.project import Project, queue
from labelwise.project.settings import get_settings
from labelwise.project.users import user_for_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--keep", type=Path, required=True)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labelwise-bench-pair-"))
    try:
        scratch = work / "build"
        scratch.mkdir()
        _built(args.keep, "sqlite", args.images, "", None, scratch, "")
        project = Project(scratch / "project")
        user = user_for_token(
            project, json.loads((args.keep / f"sqlite-{args.images}" / "done.json").read_text())["tokens"][0]
        )
        commits: list[float] = []

        @event.listens_for(project.engine, "commit")
        def _count(conn) -> None:
            commits.append(0.0)

        def pair() -> None:
            settings = get_settings(project)
            items = queue.lease_next(project, user, 1, None, settings["lease_minutes"],
                                     max_leases=settings["max_leases_per_user"])  # fmt: skip
            queue.annotate(project, user, items[0].image_id, "class-3", None)

        for _ in range(5):
            pair()
        commits.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.pairs):
            pair()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n_commits = len(commits)
        with project.engine.connect() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS bench_empty (x INTEGER)"))
            conn.commit()
            t = time.perf_counter()
            for i in range(50):
                conn.execute(text("INSERT INTO bench_empty VALUES (:i)"), {"i": i})
                conn.commit()
            empty_ms = 1000 * (time.perf_counter() - t) / 50
        project.close()
        print(json.dumps({
            "images": args.images, "pairs": args.pairs, "wall_ms_per_pair": round(1000 * wall / args.pairs, 1),
            "cpu_ms_per_pair": round(1000 * cpu / args.pairs, 1), "commits_per_pair": round(n_commits / args.pairs, 2),
            "empty_commit_ms": round(empty_ms, 1), "ceiling_pairs_per_s": round(args.pairs / wall, 1),
            "load": os.getloadavg()[0],
        }))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
