"""The arithmetic of the Ray paths, without a cluster: merged per-shard top-k is the local
selection draw for draw (ties included), and the backbone actors are sized to the nodes."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.project.ray_cluster import Cluster
from labelwise.project.ray_ingest import embed_pool_size
from labelwise.project.ray_rank import _best, merged_selection, shardable
from labelwise.strategies import get_strategy, strategy_names
from labelwise.strategies.selection import select_top_split


def shard_top_k(scores: np.ndarray, shards: int):
    """``top_k`` as the driver gets it: each shard's own top-k, merged."""

    def top_k(tie: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for part in np.array_split(np.arange(scores.size), shards):
            keep = part[tie[part] >= 0]
            parts.append(_best(keep, scores[keep], tie[keep], k))
        index, found = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        return _best(index, found, tie[index], k)

    return top_k


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("candidates", "explore"), [(None, 0.0), (None, 0.3), (40, 0.0), (25, 0.5), (None, 1.0)])
def test_merged_shard_top_k_is_select_top_split(seed, candidates, explore):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, 200).astype(float)  # four values: most of the ranking is ties
    selectable = rng.random(200) < 0.7
    exploit, exploit_scores, explorers = merged_selection(
        selectable, 12, candidates=candidates, explore=explore, seed=seed, top_k=shard_top_k(scores, shards=7)
    )
    local_exploit, local_explorers = select_top_split(
        scores, 12, selectable=selectable, candidates=candidates, explore=explore, seed=seed
    )
    np.testing.assert_array_equal(exploit, local_exploit)
    np.testing.assert_array_equal(explorers, local_explorers)
    np.testing.assert_array_equal(exploit_scores, scores[local_exploit])


def test_only_per_image_strategies_shard():
    assert {name for name in strategy_names() if shardable(get_strategy(name))} == {
        "random", "least-confidence", "margin", "entropy", "variance", "bald",
    }  # fmt: skip


def test_backbone_actors_fit_their_nodes():
    # one actor per CPU, on 3/4 of it with one thread; the rest is for the read tasks
    assert embed_pool_size(Cluster(cpus=2, gpus=0, nodes=2), [1.0, 1.0]) == (2, 0.75, 0.0, 1)
    assert embed_pool_size(Cluster(cpus=24, gpus=0, nodes=2), [16.0, 8.0]) == (24, 0.75, 0.0, 1)
    # GPUs: one actor per GPU
    assert embed_pool_size(Cluster(cpus=32, gpus=4, nodes=2), [16.0, 16.0]) == (4, 1.0, 1.0, 1)


def test_ray_address_is_read_from_labelwise_toml_and_a_wrong_type_is_refused_naming_the_file(tmp_path):
    from labelwise.errors import LabelwiseError
    from labelwise.project import Project
    from labelwise.project.ray_rank import ray_address

    (tmp_path / "images").mkdir()
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet")
    assert ray_address(project) is None  # absent: the server's worker ranks on its own machine
    for value, expected in (("", None), ("ray://head:10001", "ray://head:10001")):
        project.config.extra["ray_address"] = value
        project.save_config()
        assert ray_address(Project(tmp_path / "proj")) == expected
    project.config.extra["ray_address"] = 6379
    project.save_config()
    with pytest.raises(LabelwiseError, match=r"labelwise\.toml: ray_address must be a string.*6379"):
        ray_address(Project(tmp_path / "proj"))
    project.close()
