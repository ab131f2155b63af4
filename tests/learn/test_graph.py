"""The pool's kNN graph: exact or approximate neighbours, and the disk copy keyed by the pool's bytes."""

from __future__ import annotations

import numpy as np

from labelwise.learn import graph
from labelwise.learn.graph import clear_cache, fingerprint, graph_file, neighbors, normalized_graph


def blobs(n: int = 300, k: int = 5, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 4
    return (centers[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_the_graph_is_read_back_from_disk_by_a_new_process(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path))
    X = blobs()
    clear_cache()
    idx, sims = neighbors(X)
    path = graph_file(fingerprint(X), graph.N_NEIGHBORS)
    assert path.exists()
    # Replace the disk copy by a valid graph of other neighbours: once the in-process cache is gone
    # (a restarted server), the graph must come from the file, not from a new search.
    other = np.roll(idx, 1, axis=1)
    np.savez(path, idx=other, sims=sims)
    clear_cache()
    np.testing.assert_array_equal(neighbors(X)[0], other)


def test_a_changed_pool_gets_its_own_graph_and_a_broken_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path))
    X = blobs()
    clear_cache()
    first = neighbors(X)[0].copy()
    changed = X.copy()
    changed[0] = changed[1]  # row 0 becomes a duplicate of row 1: its neighbours must change
    clear_cache()
    second = neighbors(changed)[0]
    assert graph_file(fingerprint(changed), graph.N_NEIGHBORS) != graph_file(fingerprint(X), graph.N_NEIGHBORS)
    assert second[0, 0] == 1 and first[0, 0] != 1
    path = graph_file(fingerprint(X), graph.N_NEIGHBORS)
    path.write_bytes(b"not a graph")
    clear_cache()
    np.testing.assert_array_equal(neighbors(X)[0], first)
    assert np.load(path)["idx"].shape == first.shape  # written anew


def test_the_approximate_index_finds_nearly_all_exact_neighbours(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path))
    X = blobs(n=4000, k=20, d=16, seed=1)
    clear_cache()
    exact = neighbors(X)[0]
    monkeypatch.setattr(graph, "EXACT_LIMIT", 1000)  # the IVF index from 1,000 rows on
    clear_cache()
    for stale in (tmp_path / "graphs").glob("*.npz"):
        stale.unlink()
    approx, sims = neighbors(X)
    recall = np.mean([np.intersect1d(a, e).size / e.size for a, e in zip(approx, exact, strict=True)])
    assert recall > 0.9, recall
    assert np.all(approx != np.arange(len(X))[:, None]) or np.any(sims == 0)  # no row is its own neighbour
    S = normalized_graph(X)
    assert S.shape == (len(X), len(X)) and S.diagonal().max() == 0 and abs(S - S.T).max() < 1e-6
