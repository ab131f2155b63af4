"""``suggest`` prints the scores that ranked its images, and the images the server would serve first."""

from __future__ import annotations

import pytest

from labelwise.errors import LabelwiseError
from labelwise.learn.choose import make_head
from labelwise.loop import ActiveLoop
from labelwise.project.pool import load_pool
from labelwise.project.settings import get_settings, update_settings
from labelwise.project.suggest import suggest


@pytest.fixture
def project(labeled_project):
    return labeled_project


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_printed_random_scores_are_the_ones_that_ranked(project, seed):
    result = suggest(project, 15, strategy="random", seed=seed)
    scores = [item.score for item in result.items]
    assert len(scores) == 15 and scores == sorted(scores, reverse=True)


def test_suggestions_are_the_loops_batch_with_its_scores(project):
    result = suggest(project, 8, strategy="margin", explore=0.25, seed=5)
    pool = load_pool(project)
    # The head the server trains: the project's setting (``auto`` unless changed).
    head = make_head(get_settings(project)["head"], list(range(len(pool.class_names))), random_state=5)
    loop = ActiveLoop(pool.X, len(pool.class_names), strategy="margin", head=head, explore=0.25,
                      estimate_accuracy=False, seed=5)  # fmt: skip
    labeled = (pool.labels >= 0).nonzero()[0]
    loop.teach(labeled, pool.labels[labeled])
    loop.fit()
    picked = loop.query(8)
    assert [item.path for item in result.items] == [pool.paths[i] for i in picked]
    view = loop.pool_view()
    margins = 1.0 - abs(view.probs.max(axis=1) - [sorted(p)[-2] for p in view.probs])
    assert [item.score for item in result.items] == pytest.approx([float(margins[i]) for i in picked])
    assert [item.score for item in result.items[:6]] == sorted((item.score for item in result.items[:6]), reverse=True)


def _loop_picks(project, head: str, n: int, seed: int):
    pool = load_pool(project)
    loop = ActiveLoop(pool.X, len(pool.class_names), strategy="margin", estimate_accuracy=False, seed=seed,
                      head=make_head(head, list(range(len(pool.class_names))), random_state=seed))  # fmt: skip
    labeled = (pool.labels >= 0).nonzero()[0]
    loop.teach(labeled, pool.labels[labeled])
    loop.fit()
    picked = loop.query(n)
    return [pool.paths[i] for i in picked], loop.pool_view().probs[picked].max(axis=1)


def test_suggest_trains_the_head_the_project_is_set_to(project):
    """The server trains the project's ``head``; ``suggest`` used to train the logistic head whatever it was."""
    update_settings(project, {"head": "label-spreading"}, "test")
    try:
        spread = suggest(project, 8, strategy="margin", seed=5)
    finally:
        update_settings(project, {"head": "auto"}, "test")
    logistic = suggest(project, 8, strategy="margin", seed=5, head="logistic")
    assert (spread.head, logistic.head) == ("label-spreading", "logistic")
    for result, head in ((spread, "label-spreading"), (logistic, "logistic")):
        paths, top = _loop_picks(project, head, 8, seed=5)
        assert [i.path for i in result.items] == paths
        assert [i.probability for i in result.items] == pytest.approx(top.tolist())
    assert [i.probability for i in spread.items] != pytest.approx([i.probability for i in logistic.items])


def test_suggest_refuses_an_unknown_head_and_a_pool_head_with_ray(project):
    with pytest.raises(LabelwiseError, match=r"^head: 'kitten'"):
        suggest(project, 5, head="kitten")
    # Refused before any cluster is contacted: the address is never used.
    with pytest.raises(LabelwiseError, match="--ray: the head 'auto' learns from the whole pool"):
        suggest(project, 5, strategy="margin", ray="127.0.0.1:1")
