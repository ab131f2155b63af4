"""The background retrainer: a training process that dies does not stop later retrains."""

from __future__ import annotations

import multiprocessing

from labelwise.project.labels import label_image
from labelwise.server.worker import Retrainer
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
