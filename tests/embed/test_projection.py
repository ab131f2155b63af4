"""The PCA projection of embeddings: what it keeps, and its cache."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from labelwise.embed.projection import apply_projection, project_features
from labelwise.learn import Head


def _accuracy(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    head = Head(classes=list(range(10))).fit(X[train], y[train])
    return float((head.predict(X[test]) == y[test]).mean())


def test_projection_keeps_the_heads_accuracy_on_a_small_real_set():
    # Digits (64 features) to 24 components: the pool's main directions carry the classes, so the
    # head loses little; a projection that dropped the mean or took the wrong components would not.
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:300], order[300:]
    full = _accuracy(X.astype(np.float32), y, train, test)
    projected = project_features(X, 24)
    assert projected.shape == (len(y), 24) and projected.dtype == np.float32
    kept = _accuracy(projected, y, train, test)
    assert kept >= full - 0.03, (kept, full)
    # the projection is centred and its leading axes carry the most variance
    assert np.allclose(projected.mean(axis=0), 0, atol=1e-3)
    variances = projected.var(axis=0)
    assert (np.diff(variances) <= 1e-6).all()
    # the last of 24 components carries far less than the first: it is PCA, not a random rotation
    assert variances[-1] < 0.2 * variances[0]


def test_cached_projection_is_reused_and_applies_to_new_vectors(tmp_path):
    X, _ = load_digits(return_X_y=True)
    cache = tmp_path / "models" / "projection.npz"
    first = project_features(X[:1000], 16, cache=cache)
    assert cache.exists() and not [p for p in cache.parent.iterdir() if p.name.endswith(".tmp")]
    again = project_features(X[:1000], 16, cache=cache)
    assert np.array_equal(first, again)
    # new rows (a test split) go through the same saved projection
    assert np.allclose(apply_projection(X[:5], cache, 16), first[:5], atol=1e-4)
    # a pool of another size is projected afresh
    other = project_features(X[:800], 16, cache=cache)
    assert other.shape == (800, 16)


def test_no_projection_when_components_is_zero_or_not_fewer():
    X, _ = load_digits(return_X_y=True)
    assert project_features(X, 0).shape == X.shape
    assert project_features(X, 64).shape == X.shape


def test_a_large_pool_is_fitted_on_a_seeded_sample_and_projected_whole(monkeypatch):
    from sklearn.decomposition import PCA

    from labelwise.embed import projection

    monkeypatch.setattr(projection, "FIT_SAMPLE", 500)
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(2000, 32)) * np.r_[10.0, 8.0, 6.0, 4.0, np.full(28, 0.5)]).astype(np.float32)
    X, fitted = projection.fit_projection(vectors, 4, seed=7)
    sample = vectors[np.sort(np.random.default_rng(7).choice(2000, 500, replace=False))]
    expected = PCA(n_components=4, svd_solver="covariance_eigh", random_state=7).fit(sample)
    np.testing.assert_allclose(fitted.components, expected.components_)
    assert fitted.n == 2000 and X.shape == (2000, 4)  # the whole pool projected; refits counted on its size
    full = PCA(n_components=4, svd_solver="covariance_eigh", random_state=7).fit(vectors)
    # Where the variances are well apart, the sample finds the components of the whole pool.
    overlap = np.linalg.svd(fitted.components @ full.components_.T, compute_uv=False)
    assert overlap.min() > 0.99


def test_a_pool_read_lazily_from_the_store_is_projected_to_the_same_bits(tmp_path, monkeypatch):
    import hashlib

    from labelwise.embed import projection
    from labelwise.embed.store import EmbeddingStore

    monkeypatch.setattr(projection, "BLOCK_ROWS", 7)  # many blocks
    monkeypatch.setattr(projection, "FIT_SAMPLE", 60)  # and a sampled fit
    store = EmbeddingStore(tmp_path / "emb", 16, "squeezenet")
    keys = [hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest() for i in range(100)]
    store.add(keys, np.random.default_rng(1).normal(size=(100, 16)).astype(np.float32))
    eager, fitted = projection.fit_projection(store.get(keys), 4)
    lazy, fitted_lazy = projection.fit_projection(store.lazy(keys), 4)
    np.testing.assert_array_equal(lazy, eager)
    np.testing.assert_array_equal(fitted_lazy.components, fitted.components)
