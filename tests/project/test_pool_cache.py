"""The training worker's pool cache: the labels are read every time, images only when the pool changed,
and then only the new ones; what it returns is the pool a fresh load returns."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import sqlalchemy
from PIL import Image as PILImage

from labelwise.embed.projection import REFIT_GROWTH
from labelwise.project import Project
from labelwise.project.labels import add_annotation
from labelwise.project.pool import PoolCache, load_pool
from labelwise.store.models import STATUS_BROKEN, STATUS_OK, Image, LabelClass

DIM = 512  # squeezenet's


def add_images(project: Project, start: int, count: int) -> None:
    """``count`` images with stored vectors (two blobs), database ids ``start + 1 ...``."""
    rng = np.random.default_rng(start)
    keys = [hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest() for i in range(start, start + count)]
    vectors = rng.normal(size=(count, DIM)).astype(np.float32) + (rng.integers(0, 2, count)[:, None] * 3.0)
    project.store.add(keys, vectors)
    with project.engine.begin() as conn:
        conn.execute(sqlalchemy.insert(Image), [
            {"path": f"img-{i:05d}.png", "size_bytes": 1, "mtime_ns": 0, "content_hash": keys[i - start],
             "width": 8, "height": 8, "status": STATUS_OK}
            for i in range(start, start + count)
        ])  # fmt: skip


@pytest.fixture
def project(tmp_path):
    yield from make_project(tmp_path, "")


def make_project(tmp_path, db_url: str):
    (tmp_path / "images").mkdir()
    PILImage.new("RGB", (8, 8)).save(tmp_path / "images" / "placeholder.png")
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet", db_url=db_url)
    project.config.pca_components = 16
    project.add_classes(["a", "b"])
    add_images(project, 0, 300)
    yield project
    project.close()


def label(project: Project, image_id: int, position: int) -> None:
    with project.sessions.begin() as session:
        cls = session.scalar(sqlalchemy.select(LabelClass).where(LabelClass.position == position))
        add_annotation(session, session.get(Image, image_id), cls, annotator="t", source="test")


def assert_same_pool(a, b) -> None:
    np.testing.assert_array_equal(a.image_ids, b.image_ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.keys, b.keys)
    assert a.paths == b.paths and a.class_names == b.class_names
    assert a.X.shape == b.X.shape


def test_unchanged_pool_is_reused_and_labels_are_read_again(project):
    cache = PoolCache()
    first = load_pool(project, cache)
    assert_same_pool(first, load_pool(project))
    np.testing.assert_array_equal(first.X, load_pool(project).X)
    label(project, 5, 1)
    second = load_pool(project, cache)
    assert second.X is first.X  # not reloaded nor re-projected
    assert second.labels[second.image_ids == 5] == 1 and (first.labels == -1).all()
    assert_same_pool(second, load_pool(project))


def test_new_images_are_folded_in_with_the_projection_the_pool_went_through(project):
    cache = PoolCache()
    first = load_pool(project, cache)
    projection = cache.projection
    add_images(project, 300, 20)  # under REFIT_GROWTH: no refit
    assert 300 * (1 + REFIT_GROWTH) > 320
    grown = load_pool(project, cache)
    assert_same_pool(grown, load_pool(project))
    assert cache.projection is projection
    np.testing.assert_array_equal(grown.X[:300], first.X)
    new_vectors = project.store.get([hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest()
                                     for i in range(300, 320)])  # fmt: skip
    np.testing.assert_allclose(grown.X[300:], projection.apply(new_vectors), rtol=1e-6)


def test_growth_past_the_share_refits_the_projection(project):
    cache = PoolCache()
    load_pool(project, cache)
    add_images(project, 300, int(300 * REFIT_GROWTH) + 1)
    grown = load_pool(project, cache)
    assert cache.projection.n == grown.image_ids.size
    np.testing.assert_allclose(grown.X, load_pool(project).X, rtol=1e-5, atol=1e-5)


def test_an_image_leaving_the_pool_reloads_it(project):
    cache = PoolCache()
    load_pool(project, cache)
    with project.engine.begin() as conn:
        conn.execute(sqlalchemy.update(Image).where(Image.id == 7).values(status=STATUS_BROKEN))
    add_images(project, 300, 5)  # with new images too: a pool that only grew would be folded in
    reloaded = load_pool(project, cache)
    assert 7 not in reloaded.image_ids and 305 in reloaded.image_ids
    assert_same_pool(reloaded, load_pool(project))


def test_fingerprint_of_large_ids_on_postgresql(tmp_path, pg_url):
    # Squared ids past 46,340 overflow PostgreSQL's integer: the fingerprint sums them as bigint.
    for project in make_project(tmp_path, pg_url):
        with project.engine.begin() as conn:
            conn.execute(sqlalchemy.update(Image).where(Image.id == 300).values(id=100_000))
        cache = PoolCache()
        load_pool(project, cache)
        label(project, 100_000, 1)
        again = load_pool(project, cache)
        assert again.labels[-1] == 1 and again.image_ids[-1] == 100_000
        assert_same_pool(again, load_pool(project))


def test_pool_clusters_are_kept_and_new_images_join_them(project):
    from labelwise.project.settings import get_settings
    from labelwise.project.training import train_and_rank

    for i in range(40):  # labels of both blobs, so cluster-margin (which uses the pool clusters) ranks
        label(project, i + 1, i % 2)
    settings = {**get_settings(project), "strategy": "cluster-margin", "queue_size": 20}
    cache = PoolCache()
    train_and_rank(project, settings, pool_cache=cache)
    clusters = cache.clusters
    assert clusters is not None and clusters.shape == (300,) and clusters.max() >= 1
    train_and_rank(project, settings, pool_cache=cache)
    assert cache.clusters is clusters  # reused, not clustered again
    add_images(project, 300, 10)
    train_and_rank(project, settings, pool_cache=cache)
    np.testing.assert_array_equal(cache.clusters[:300], clusters)
    assert cache.clusters.shape == (310,)


def test_pool_typicality_is_made_once_kept_and_extended_for_new_images(project, monkeypatch):
    from labelwise.project.settings import get_settings
    from labelwise.project.training import train_and_rank
    from labelwise.strategies.diversity import pool_typicality

    monkeypatch.setattr("labelwise.loop.active_loop.TYPICALITY_ONCE_FROM", 100)  # 300 images: a large pool
    settings = {**get_settings(project), "strategy": "typiclust", "queue_size": 20}
    cache = PoolCache()
    train_and_rank(project, settings, pool_cache=cache)
    typical = cache.typicality
    assert typical is not None and typical.shape == (300,)
    np.testing.assert_allclose(typical, pool_typicality(cache.pool.X, cache.clusters))
    train_and_rank(project, settings, pool_cache=cache)
    assert cache.typicality is typical  # reused, not measured again
    add_images(project, 300, 10)
    train_and_rank(project, settings, pool_cache=cache)
    np.testing.assert_array_equal(cache.typicality[:300], typical)
    assert cache.typicality.shape == (310,) and np.all(cache.typicality[300:] > 0)
    add_images(project, 310, int(310 * REFIT_GROWTH) + 1)  # past the refit share: made again, for all
    train_and_rank(project, settings, pool_cache=cache)
    np.testing.assert_allclose(cache.typicality, pool_typicality(cache.pool.X, cache.clusters))


def test_small_pools_keep_typiclusts_per_batch_clustering(project):
    from labelwise.project.settings import get_settings
    from labelwise.project.training import train_and_rank

    cache = PoolCache()
    train_and_rank(project, {**get_settings(project), "strategy": "typiclust", "queue_size": 20}, pool_cache=cache)
    assert cache.typicality is None and cache.clusters is None  # 300 < TYPICALITY_ONCE_FROM: nothing made
