"""One writer at a time: a project-level lock for the commands that ingest or write the store.

``fcntl.flock`` on ``labelwise.lock`` in the project folder: the kernel releases it when its
holder ends, even by SIGKILL, so a crashed command never leaves the project locked. The holder
writes its pid and command line into the file, so a waiting command can say whom it waits for.
The lock is re-entrant within a process (``init`` holds it around the ingest that takes it too).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from labelwise.errors import LabelwiseError

LOCK_NAME = "labelwise.lock"
_held: dict[Path, list[int]] = {}  # lock path -> [file descriptor, depth], in this process
_guard = threading.Lock()


class ProjectBusyError(LabelwiseError):
    """Another process is writing the project and the caller chose not to wait."""


def holder(folder: str | Path) -> str:
    """Who holds (or last held) the lock of ``folder``, as written by them; "" when unknown."""
    try:
        return (Path(folder) / LOCK_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


@contextmanager
def project_writer(
    folder: str | Path, *, wait: bool = True, on_wait: Callable[[str], None] | None = None, poll: float = 0.2
) -> Iterator[None]:
    """Hold the project's write lock. Busy: call ``on_wait(who)`` once and wait, or with
    ``wait=False`` raise ``ProjectBusyError`` naming the holder."""
    path = (Path(folder) / LOCK_NAME).resolve()
    with _guard:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield
        finally:
            with _guard:
                entry[1] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = holder(folder) or "another process"
                if not wait:
                    raise ProjectBusyError(
                        f"{folder}: another labelwise command is writing this project ({who}); "
                        "try again when it ends, or leave out --no-wait to wait for it"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(who)
                    told = True
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(_command_line())}\n".encode(), 0)
        with _guard:
            _held[path] = [fd, 1]
        try:
            yield
        finally:
            with _guard:
                del _held[path]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _command_line() -> list[str]:
    argv = list(sys.argv)
    if argv and argv[0].endswith(("cli.py", "__main__.py", "labelwise")):
        argv[0] = "labelwise"
    return argv[:6]
