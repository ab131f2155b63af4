"""``suggest`` prints the scores that ranked its images, and the images the server would serve first."""

from __future__ import annotations

import pytest

from labelwise.loop import ActiveLoop
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import label_image
from labelwise.project.pool import load_pool
from labelwise.project.suggest import suggest


@pytest.fixture(scope="module")
def project(tmp_path_factory, fashion_folder):
    project = Project.create(tmp_path_factory.mktemp("suggest") / "proj", fashion_folder, backbone="squeezenet")
    project.add_classes(sorted(p.name for p in fashion_folder.iterdir()))
    ingest_folder(project)
    for cls in ("Bag", "Trouser", "Sneaker"):
        for path in sorted((fashion_folder / cls).iterdir())[:3]:
            label_image(project, f"{cls}/{path.name}", cls)
    yield project
    project.close()


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_printed_random_scores_are_the_ones_that_ranked(project, seed):
    result = suggest(project, 15, strategy="random", seed=seed)
    scores = [item.score for item in result.items]
    assert len(scores) == 15 and scores == sorted(scores, reverse=True)


def test_suggestions_are_the_loops_batch_with_its_scores(project):
    result = suggest(project, 8, strategy="margin", explore=0.25, seed=5)
    pool = load_pool(project)
    loop = ActiveLoop(pool.X, len(pool.class_names), strategy="margin", explore=0.25, estimate_accuracy=False, seed=5)
    labeled = (pool.labels >= 0).nonzero()[0]
    loop.teach(labeled, pool.labels[labeled])
    loop.fit()
    picked = loop.query(8)
    assert [item.path for item in result.items] == [pool.paths[i] for i in picked]
    view = loop.pool_view()
    margins = 1.0 - abs(view.probs.max(axis=1) - [sorted(p)[-2] for p in view.probs])
    assert [item.score for item in result.items] == pytest.approx([float(margins[i]) for i in picked])
    assert [item.score for item in result.items[:6]] == sorted((item.score for item in result.items[:6]), reverse=True)
