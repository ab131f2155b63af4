"""A project for the server tests, a test client per person, and a real server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.settings import update_settings
from labelwise.project.users import add_user

CHROMIUM = "/usr/bin/chromium"


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip


CLASSES = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def make_project(
    folder: Path, images: Path, db_url: str = "", multi_label: bool = False
) -> tuple[Project, dict[str, str]]:
    project = Project.create(folder, images, backbone="squeezenet", db_url=db_url, multi_label=multi_label)
    project.add_classes(CLASSES)
    ingest_folder(project)
    tokens = {
        "admin": add_user(project, "ada", "admin"),
        "ann": add_user(project, "ann", "annotator"),
        "bob": add_user(project, "bob", "annotator"),
    }
    return project, tokens


class Client:
    """A TestClient per person: ``c.ann.post(...)``."""

    def __init__(self, app, tokens):
        self.app = app
        self.anon = TestClient(app)
        for who, token in tokens.items():
            setattr(self, who, TestClient(app, headers={"Authorization": f"Bearer {token}"}))


@contextmanager
def served_project(folder: Path, images: Path, db_url: str = "", multi_label: bool = False) -> Iterator[Client]:
    """:func:`make_project`, served in this process (no retrainer thread): a client per person."""
    from labelwise.server.app import create_app

    project, tokens = make_project(folder, images, db_url, multi_label=multi_label)
    project.close()
    app = create_app(folder, start_worker=False)
    try:
        yield Client(app, tokens)
    finally:
        app.state.retrainer.stop()
        app.state.project.close()
        app.state.retrainer.project.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``labelwise serve`` in its own process, as a user would start it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log = open(self.folder / f"server-{time.time_ns()}.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labelwise.cli", "serve", str(self.folder), "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/login", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {(self.folder).glob('server-*.log')}")

    def log_tail(self, lines: int = 80) -> str:
        """The end of the server's output, for an assertion message: a 500 says why only there."""
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@contextmanager
def page_server(
    folder: Path, images: Path, multi_label: bool = False
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A real server on a fresh project that never retrains by itself: for tests of the pages alone."""
    project, tokens = make_project(folder, images, multi_label=multi_label)
    update_settings(project, {"retrain_every": 1000}, "test")
    project.close()
    server = ServerProcess(folder)
    server.start()
    try:
        yield server, tokens
    finally:
        server.stop()


def launch_chromium(playwright):
    """Debian's Chromium, headless, as every browser test starts it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
