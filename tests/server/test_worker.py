"""The background retrainer: a training process that dies does not stop later retrains."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from labelwise.project.labels import label_image
from labelwise.server.worker import TRAINING_NICENESS, Retrainer
from tests.utils.server import make_project


def test_a_killed_training_process_is_replaced_at_the_next_retrain(tmp_path, fashion_folder):
    project, _ = make_project(tmp_path / "proj", fashion_folder)
    for name in ("Trouser", "Bag"):
        for file in sorted((fashion_folder / name).glob("*.png"))[:3]:
            label_image(project, f"{name}/{file.name}", name)
    project.close()
    retrainer = Retrainer(tmp_path / "proj")
    try:
        retrainer.train_now()
        assert retrainer.last_error is None and retrainer.ranking is not None
        first = retrainer.ranking.version
        for child in multiprocessing.active_children():  # the training process, as the OOM killer would
            child.kill()
            child.join(timeout=10)
        retrainer.train_now()  # the dead process is found here
        assert retrainer.last_error is not None and "BrokenProcessPool" in retrainer.last_error
        retrainer.train_now()  # and replaced here
        assert retrainer.last_error is None, retrainer.last_error
        assert retrainer.ranking.version > first
    finally:
        retrainer.stop()
        retrainer.project.close()


def test_the_training_process_runs_at_a_lower_cpu_priority_than_the_server(tmp_path, fashion_folder):
    """Retraining is background work: it must not take a core from the requests (issue 8)."""
    server = os.nice(0)
    if server >= 19:  # e.g. the tests themselves run under `nice -n 19`: there is no lower priority
        pytest.skip("this process already has the lowest CPU priority")
    project, _ = make_project(tmp_path / "proj", fashion_folder)
    project.close()
    retrainer = Retrainer(tmp_path / "proj")
    try:
        retrainer.train_now()
        assert retrainer._executor is not None
        training = retrainer._executor.submit(os.nice, 0).result()
        assert training == min(19, server + TRAINING_NICENESS), "the training process runs at the server's priority"
    finally:
        retrainer.stop()
        retrainer.project.close()
