"""The similar search's index on a pool that changes: new images are added to it, a removed one
builds it again, and the batches stay those of the exact search."""

from __future__ import annotations

import numpy as np

from labelwise.project import Project, similar
from labelwise.project.ingest import ingest_folder
from labelwise.strategies.neighbours import nearest_by_cosine
from tests.utils.images import photo


def test_the_index_follows_the_pool_and_answers_like_the_exact_search(tmp_path, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(10):
        photo(seed).save(images / f"p{seed}.png")
    project = Project.create(tmp_path / "proj", images, backbone="squeezenet")
    ingest_folder(project)
    built, original = [], similar.CosineIndex
    monkeypatch.setattr(similar, "CosineIndex", lambda X: built.append(X.shape[0]) or original(X))

    def same_as_exact() -> None:
        # The exact search over the pool the index serves (kept between searches: a new image is
        # projected as the others were, where a fresh load would refit the projection).
        pool, index = similar._pool_and_index(project, index_limit=1)
        assert index is not None
        for row in (0, 1):
            others = np.flatnonzero(np.arange(pool.X.shape[0]) != row)
            exact = nearest_by_cosine(pool.X, pool.X[row], others, 5)
            assert nearest_by_cosine(pool.X, pool.X[row], others, 5, index)[0].tolist() == exact[0].tolist()
            indexed = similar.similar_unlabeled(project, int(pool.image_ids[row]), 5, index_limit=1)
            assert [i.image_id for i in indexed.items] == pool.image_ids[exact[0]].tolist()

    same_as_exact()
    assert built == [10]
    photo(10).save(images / "p10.png")  # one more image: added to the index, not built again
    ingest_folder(project)
    same_as_exact()
    assert built == [10]
    assert 11 in {i.image_id for i in similar.similar_unlabeled(project, 1, 10, index_limit=1).items}
    (images / "p3.png").unlink()  # one image gone: the index is built again
    ingest_folder(project)
    same_as_exact()
    assert built == [10, 10]
    project.close()
