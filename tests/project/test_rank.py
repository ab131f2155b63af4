"""The loop the server and ``suggest`` train (:func:`labelwise.project.rank.make_loop`)."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.project.rank import make_loop


@pytest.mark.parametrize(("strategy", "graph_default"), [("auto", True), ("probcover", True), ("margin", False)])
def test_the_served_auto_head_knows_the_strategy_that_picks_its_labels(strategy, graph_default):
    """As in the simulator (``run_one``): label spreading is auto's default at 1 label per class only
    after coverage-first picks, so the served and simulated heads stay the same."""
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    loop = make_loop(X, 3, strategy=strategy, head="auto", candidates=None, explore=0.0, seed=0)
    assert loop.head.graph_default is graph_default
