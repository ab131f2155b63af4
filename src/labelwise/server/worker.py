"""Background retraining: labeling never waits for training.

After every ``retrain_every`` new labels, or on demand, a thread hands the training to a separate
process, which retrains the head and re-scores the whole pool; the thread then swaps the new
ranking in under a new model version (one reference assignment, so
readers see the old ranking or the new one, never half of one). A failure is recorded with its
error and the old ranking stays in service.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from labelwise.project import Project
from labelwise.project.pool import PoolCache
from labelwise.project.queue import label_count
from labelwise.project.ray_rank import rank_for_worker, ray_address
from labelwise.project.settings import get_settings
from labelwise.project.training import Ranking, labels_of_version, rank_then_measure, ranking_path, record_failure

log = logging.getLogger("labelwise.worker")

# The training process's CPU priority, above the server's (Unix niceness, 0-19). Retraining is
# background work; at every retrain it would otherwise take a core from the requests on a small machine
# (the tail of lease + label at 1M, issue 8). On a machine with a spare core it runs as fast as before.
TRAINING_NICENESS = 10


def _start_training_process(server_pid: int) -> None:
    """In the training process, first: yield the CPU to the server's requests, and die with it."""
    with contextlib.suppress(OSError, AttributeError):  # no niceness here: train at the server's priority
        os.nice(TRAINING_NICENESS)
    _die_with_parent(server_pid)


def _die_with_parent(server_pid: int) -> None:
    """In the training process: end when the server ends, even by SIGKILL, instead of training on
    for a server that is gone (Linux; elsewhere the process ends when its pipe breaks)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != server_pid:  # the server died while this process was starting
        os._exit(0)


# In the training process, which lives as long as the server: each project's pool (projected
# embeddings) between retrains, so a retrain reads only the labels and the images added since.
_POOLS: dict[str, PoolCache] = {}


# In the training process: each project's model measurement still to do (rank_then_measure), with the
# project it holds open; run by _measure_in_child once the ranking is served.
_MEASURES: dict[str, tuple[Project, Callable[[], dict]]] = {}


def _train_in_child(folder: str, settings: dict) -> Ranking:
    """Runs in the training process: its own connections, its own interpreter lock."""
    try:  # one left over (its call was never made): measured first, so the history stays in order
        _measure_in_child(folder)
    except Exception:  # only that version's accuracy is lost, not this retrain
        log.exception("measuring the previous model failed")
    project = Project(folder)
    measuring = False
    try:
        address = ray_address(project)
        if address is not None:  # labelwise.toml's ray_address: rank on the cluster (or say why not)
            return rank_for_worker(project, settings, address, pool_cache=_POOLS.setdefault(folder, PoolCache()))
        ranking, measure = rank_then_measure(project, settings, pool_cache=_POOLS.setdefault(folder, PoolCache()))
        _MEASURES[folder], measuring = (project, measure), True
        return ranking
    finally:
        if not measuring:
            project.close()


def _measure_in_child(folder: str) -> None:
    """Runs in the training process after the ranking was handed over: the model's accuracy estimate."""
    project, measure = _MEASURES.pop(folder, (None, None))
    if project is None or measure is None:
        return
    try:
        measure()
    finally:
        project.close()


class Retrainer:
    def __init__(self, folder: str | Path) -> None:
        self.project = Project(folder)
        self.ranking: Ranking | None = Ranking.load(ranking_path(self.project))
        self.labels_at_last_train = -1 if self.ranking is None else self._labels_of(self.ranking)
        self.training = False
        self.last_error: str | None = None
        self._requested = self.ranking is None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labelwise-retrainer", daemon=True)
        # Training runs in a separate process: in this one it would hold the interpreter lock for
        # seconds at a time and every request would wait for it.
        self._executor: ProcessPoolExecutor | None = None

    def _labels_of(self, ranking: Ranking) -> int:
        n = labels_of_version(self.project, ranking.version)
        return -1 if n is None else n

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            for child in multiprocessing.active_children():  # a training run in progress: stop it too
                child.terminate()

    def request(self) -> None:
        """Retrain as soon as possible (the dashboard's button, ``POST /api/train``)."""
        self._requested = True
        self._wake.set()

    def notify_label(self) -> None:
        self._wake.set()

    def due(self) -> bool:
        if self._requested:
            return True
        every = get_settings(self.project)["retrain_every"]
        return label_count(self.project) - self.labels_at_last_train >= every

    def _drop_if_broken(self, error: Exception) -> None:
        if isinstance(error, BrokenProcessPool) and self._executor is not None:
            # The training process died (killed, out of memory): the pool never recovers by itself,
            # so the next retrain starts a fresh process instead of failing until a restart.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def train_now(self) -> None:
        self._requested = False
        settings = get_settings(self.project)
        n = label_count(self.project)
        self.training = True
        try:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_training_process,
                    initargs=(os.getpid(),),
                )
            ranking = self._executor.submit(_train_in_child, str(self.project.folder), settings).result()
            self.ranking = ranking  # the atomic swap
            self.last_error = None
            log.info("model version %s trained", ranking.version)
            try:  # served already; the estimate the dashboard shows follows
                self._executor.submit(_measure_in_child, str(self.project.folder)).result()
            except Exception as exc:  # the ranking stays: only its version's accuracy is missing
                self._drop_if_broken(exc)
                log.error("measuring model version %s failed: %s\n%s", ranking.version, exc, traceback.format_exc())
        except Exception as exc:
            self._drop_if_broken(exc)
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("retraining failed: %s\n%s", exc, traceback.format_exc())
            try:
                record_failure(self.project, n, settings["strategy"], self.last_error)
            except Exception:  # the database itself may be what failed
                log.exception("could not record the failure")
        finally:
            # Also after a failure: wait for the next retrain_every labels instead of looping on it.
            self.labels_at_last_train = n
            self.training = False

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=2.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if self.due():
                    self.train_now()
            except Exception:
                log.exception("retrainer loop")
                time.sleep(1.0)
