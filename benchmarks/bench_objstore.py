"""Ingest from an S3 server against the same files in a local folder, in the same run: images/s and the ratio.

The folder is bench_ingest.py's (Fashion-MNIST PNGs and JPEG photos); the same files are uploaded
to an S3 server, moto (``moto_server``, a separate process on loopback, so that it does not share
this process's GIL), and each of the two is ingested into a fresh project, whole ``ingest_folder``
calls timed (listing or scan, reads, decode, embed, store, database). moto is a Python server on
the same cores: the ratio says what listing and one GET per object cost here, not what a real S3
costs over a network (there, reads of many objects in parallel would matter more).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table
from bench_ingest import write_folder

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_ingest(work: Path, images: str, backbone: str, name: str) -> tuple[float, int]:
    project = Project.create(work / name, images, backbone=backbone)
    start = time.perf_counter()
    report = ingest_folder(project)
    seconds = time.perf_counter() - start
    project.close()
    return seconds, report.embedded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--png", type=int, default=300)
    parser.add_argument("--jpeg", type=int, default=100)
    parser.add_argument("--backbone", default="squeezenet")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="lw-objstore-"))
    try:
        from pyarrow import fs

        for _ in range(100):  # the server's start
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        images = write_folder(work / "images", args.png, args.jpeg)
        bucket, _ = fs.FileSystem.from_uri("s3://bench?allow_bucket_creation=true")
        bucket.create_dir("bench")
        for path in sorted(p for p in images.rglob("*") if p.is_file()):
            with bucket.open_output_stream(f"bench/images/{path.relative_to(images).as_posix()}") as out:
                out.write(path.read_bytes())
        n = args.png + args.jpeg
        rows = []
        for run in range(args.runs):
            load = Path("/proc/loadavg").read_text().split()[0]
            # Alternate which goes first: the first ingest of the process also loads the backbone.
            order = [("local", str(images)), ("s3", "s3://bench/images")][:: 1 if run % 2 == 0 else -1]
            timed = {name: timed_ingest(work, where, args.backbone, f"{name}-{run}") for name, where in order}
            (local_s, local_n), (s3_s, s3_n) = timed["local"], timed["s3"]
            assert local_n == s3_n == n, (local_n, s3_n, n)  # every image embedded, from both
            load_after = Path("/proc/loadavg").read_text().split()[0]
            rows.append([f"{run + 1} ({order[0][0]} first)", str(n), f"{n / local_s:.1f}", f"{n / s3_s:.1f}",
                         f"{local_s / s3_s:.2f}x", f"{load} -> {load_after}"])  # fmt: skip
        print(f"backbone {args.backbone}, {args.png} PNG + {args.jpeg} JPEG, cores {os.cpu_count()}")
        print_table(["run", "images", "local img/s", "s3 (moto) img/s", "s3 / local", "load avg"], rows)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
