"""The projected pool on disk: made once per projection fit, extended for new images, mapped again by
a new process (a server restart) instead of projecting again, and the same bits as projecting a row alone."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy

from labelwise.embed.projection import apply_pca
from labelwise.project.pool import PoolCache, load_pool
from labelwise.project.projected_pool import DATA, INDEX, projected_pool
from labelwise.store.models import STATUS_BROKEN, Image
from tests.project.test_pool_cache import add_images, make_project


@pytest.fixture
def project(tmp_path):
    yield from make_project(tmp_path, "")


def _alone(project, cache: PoolCache, image_ids: np.ndarray) -> np.ndarray:
    """Each image's stored vector projected on its own, row by row."""
    with project.sessions() as session:
        hashes = dict(session.execute(sqlalchemy.select(Image.id, Image.content_hash)).all())
    vectors = project.store.get([hashes[int(i)] for i in image_ids])
    p = cache.projection
    return np.concatenate([apply_pca(vectors[i : i + 1], p.mean, p.components) for i in range(len(vectors))])


def test_a_restart_maps_the_stored_rows_instead_of_projecting_again(project):
    models = project.folder / "models"
    cache = PoolCache()
    first = load_pool(project, cache)
    assert isinstance(first.X, np.memmap) and first.X.dtype == np.float32 and first.X.shape == (300, 16)
    np.testing.assert_array_equal(first.X, _alone(project, cache, first.image_ids))  # row by row: same bits
    np.testing.assert_array_equal(first.X, load_pool(project).X)  # the process without a cache projects
    written = (models / DATA).stat()
    restarted = load_pool(project, PoolCache())  # a new training process
    again = (models / DATA).stat()
    assert (again.st_ino, again.st_mtime_ns, again.st_size) == (written.st_ino, written.st_mtime_ns, written.st_size)
    np.testing.assert_array_equal(restarted.X, first.X)


def test_new_images_are_appended_and_a_pool_that_lost_images_reuses_its_rows(project):
    models = project.folder / "models"
    cache = PoolCache()
    load_pool(project, cache)
    inode = (models / DATA).stat().st_ino
    add_images(project, 300, 20)  # less than REFIT_GROWTH: folded in with the same projection
    grown = load_pool(project, cache)
    assert grown.X.shape == (320, 16) and isinstance(grown.X, np.memmap)
    assert (models / DATA).stat().st_ino == inode and (models / DATA).stat().st_size == 320 * 16 * 4  # appended
    np.testing.assert_array_equal(grown.X[300:], _alone(project, cache, grown.image_ids[300:]))
    # An image left the pool (the same projection, as when a refit is not due): its row is left out, the
    # others are copied from the file, not projected (the zero vectors given would show).
    kept = np.delete(grown.image_ids, 6)
    X = projected_pool(models, kept, np.zeros((319, 512), np.float32), cache.projection)
    np.testing.assert_array_equal(X, np.delete(np.asarray(grown.X), 6, axis=0))
    with project.sessions.begin() as session:  # through the pool: a full load refits (another n), all rows anew
        session.get(Image, 7).status = STATUS_BROKEN
    shrunk = load_pool(project, cache)
    assert shrunk.X.shape == (319, 16) and 7 not in shrunk.image_ids
    np.testing.assert_array_equal(shrunk.X, _alone(project, cache, shrunk.image_ids))


def test_rows_past_the_index_or_of_another_projection_are_not_used(project):
    models = project.folder / "models"
    cache = PoolCache()
    pool = load_pool(project, cache)
    expected = np.array(pool.X)
    with open(models / DATA, "ab") as file:  # a write that crashed before its index: garbage past it
        file.write(np.full((5, 16), np.nan, dtype=np.float32).tobytes())
    vectors = np.zeros((300, 512), dtype=np.float32)  # the vectors are not read: every row is on disk
    X = projected_pool(models, pool.image_ids, vectors, cache.projection)
    np.testing.assert_array_equal(X, expected)
    assert (models / DATA).stat().st_size == 300 * 16 * 4
    with np.load(models / INDEX) as saved:
        ids = saved["image_ids"]
    np.savez(models / INDEX, image_ids=ids, digest="another projection", k=16)
    X = projected_pool(models, pool.image_ids, vectors, cache.projection)  # projected again: zeros in
    np.testing.assert_array_equal(X, apply_pca(vectors, cache.projection.mean, cache.projection.components))
