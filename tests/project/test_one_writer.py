"""One writer at a time, and readers that never damage a store being written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.embed import get_backbone
from labelwise.project import Project
from tests.utils.images import write_fashion_folder

runner = CliRunner()

HOLDER = """
import sys
from labelwise.project.lock import project_writer
with project_writer(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_a_second_writer_waits_or_refuses(tmp_path, fashion_folder):
    project = tmp_path / "proj"
    invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(project)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = invoke("add", project, "--no-wait", code=2).output
        assert "another labelwise command is writing" in refused and f"pid {holder.pid}" in refused
        waiting = subprocess.Popen([sys.executable, "-m", "labelwise.cli", "add", str(project)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(3)
        assert waiting.poll() is None, "add ran while another process held the lock"
    finally:
        holder.stdin.close()
        holder.wait(30)
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "waiting: another labelwise command is writing" in err and "nothing new to embed" in out


READER = """
import sys
from labelwise.embed.store import EmbeddingStore
n = 0
while True:
    store = EmbeddingStore(sys.argv[1] + "/embeddings/squeezenet", 512, "squeezenet")
    float(store.vectors().sum())
    n += 1
    if n % 500 == 0:  # what `status` does, through the project (imported late: readers start fast)
        from labelwise.project import Project
        from labelwise.project.status import project_status

        project = Project(sys.argv[1])
        project_status(project)
        project.close()
"""


def test_add_while_readers_open_the_store_and_some_are_killed(tmp_path):
    """Readers opening the store in a loop (some SIGKILLed) while `add` embeds: every ok image
    ends with its own vector, and a second `add` finds nothing to embed."""
    images = write_fashion_folder(tmp_path / "images", per_class=30, offset=0)  # 300 images
    project = tmp_path / "proj"
    later = tmp_path / "later"
    later.mkdir()
    for folder in sorted(images.iterdir()):
        if folder.name != "Bag":
            folder.rename(later / folder.name)
    invoke("init", project, "--images", images, "--backbone", "squeezenet")  # the store exists, with 30 Bags
    for folder in sorted(later.iterdir()):
        folder.rename(images / folder.name)  # 270 images new to `add`
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(project)], env=env,
                                stderr=subprocess.DEVNULL) for _ in range(3)]  # fmt: skip
    writer = subprocess.Popen([sys.executable, "-m", "labelwise.cli", "add", str(project)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    killed = 0
    try:
        while writer.poll() is None:
            time.sleep(1.5)
            victim = readers[killed % len(readers)]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            readers[killed % len(readers)] = subprocess.Popen(
                [sys.executable, "-c", READER, str(project)], env=env, stderr=subprocess.DEVNULL
            )
            killed += 1
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()
    _out, err = writer.communicate()
    assert writer.returncode == 0, err
    assert killed >= 2
    proj = Project(project)
    from labelwise.project.pool import load_pool

    pool = load_pool(proj)
    assert len(pool.paths) == 300
    # Every ok image has its own vector: compared with a fresh embedding of its file.
    from PIL import Image

    net = get_backbone("squeezenet")
    fresh = net.embed(np.stack([net.prepare(Image.open(images / p).convert("RGB")) for p in pool.paths]))
    with proj.sessions() as session:
        from sqlalchemy import select

        from labelwise.store.models import Image as ImageRow

        hashes = dict(session.execute(select(ImageRow.path, ImageRow.content_hash)).all())
    stored = proj.store.get([hashes[p] for p in pool.paths])
    cosine = (stored * fresh).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(fresh, axis=1)
    assert cosine.min() > 0.999, f"{(cosine < 0.999).sum()} images without their own vector"
    assert len(proj.store) == 300 and proj.store.duplicate_keys() == 0
    info = json.loads(invoke("status", project, "--json").stdout)
    assert info["images_ok"] == 300 and info["store_vectors"] == 300
    assert "nothing new to embed" in invoke("add", project).output
