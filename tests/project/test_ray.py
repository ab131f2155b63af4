"""On a real two-node Ray cluster (loopback): ingest gives the local project, a worker node killed
mid-ingest loses nothing and embeds nothing twice, and the sharded ranking is the local ranking."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest
import ray  # the ray extra: make test installs it (pip install 'labelwise[ray]')
from PIL import Image
from sklearn.datasets import load_sample_images
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import LabelwiseError
from labelwise.ingest.pipeline import content_hash
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.ray_cluster import connect
from labelwise.project.suggest import suggest
from tests.project.ray_cluster import start_cluster
from tests.utils.images import write_bad_input_folder, write_fashion_folder
from tests.utils.ingest import assert_same_embeddings, assert_same_ingest

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    patch = pytest.MonkeyPatch()
    started = start_cluster()
    try:
        for name, value in started.auth.items():
            patch.setenv(name, value)
        connect(started.address)
        yield started
    finally:
        ray.shutdown()
        started.stop()
        patch.undo()


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def status(project) -> dict:
    return json.loads(invoke("status", project, "--json"))


def test_ray_ingest_on_two_nodes_gives_the_local_project(tmp_path, cluster):
    images = tmp_path / "images"
    write_bad_input_folder(images)
    for k, photo in enumerate(load_sample_images().images):  # real photos: a temple, a flower
        Image.fromarray(photo).save(images / f"real-{k}.jpg", quality=90)
    assert sum(node["Alive"] for node in ray.nodes()) == 2
    args = ("--images", images, "--backbone", "squeezenet", "--classes", "a,b")
    invoke("init", tmp_path / "local", *args)
    invoke("init", tmp_path / "ray", *args, "--ray", cluster.address)
    local, remote = status(tmp_path / "local"), status(tmp_path / "ray")
    assert_same_ingest(local, remote)
    assert local["images_broken"] == 5 and local["images_ok"] == 15
    a, b = Project(tmp_path / "local"), Project(tmp_path / "ray")
    assert_same_embeddings(a, b)
    assert b.store.duplicate_keys() == 0


@pytest.mark.parametrize(
    ("strategy", "options"),
    [("margin", {"explore": 0.25}), ("entropy", {"candidates": 60}), ("bald", {}), ("random", {"explore": 0.5})],
)
def test_ranking_with_ray_is_the_local_ranking(labeled_project, cluster, strategy, options):
    # --ray trains the logistic head, the one head that learns from the labeled images alone.
    local = suggest(labeled_project, 12, strategy=strategy, seed=3, head="logistic", **options)
    remote = suggest(labeled_project, 12, strategy=strategy, seed=3, ray=cluster.address, head="logistic", **options)
    assert [i.path for i in remote.items] == [i.path for i in local.items]
    assert [i.score for i in remote.items] == pytest.approx([i.score for i in local.items], abs=1e-9)
    assert [i.predicted for i in remote.items] == [i.predicted for i in local.items]
    assert (remote.strategy, remote.n_labeled, remote.n_unlabeled) == (
        local.strategy,
        local.n_labeled,
        local.n_unlabeled,
    )


def test_set_strategies_are_refused_with_ray_by_name(labeled_project, cluster):
    for name in ("auto", "typiclust"):
        with pytest.raises(LabelwiseError, match=f"'{name}' chooses its batch over the whole pool.*margin"):
            suggest(labeled_project, 5, strategy=name, ray=cluster.address)


def test_the_servers_worker_ranks_on_ray_with_ray_address_and_says_when_it_cannot(labeled_project, cluster):
    from labelwise.project.settings import update_settings
    from labelwise.project.training import Ranking, ranking_path
    from labelwise.server.worker import Retrainer

    project = labeled_project
    project.config.extra["ray_address"] = cluster.address
    project.save_config()
    retrainer = Retrainer(project.folder)
    try:
        # A per-image strategy: the training process scores the pool in shards on the cluster, and
        # serves exactly `suggest`'s ranking (the local one, which test_ranking_with_ray... equals).
        update_settings(project, {"strategy": "margin", "queue_size": 30, "explore": 0.2}, user="test")
        retrainer.train_now()
        assert retrainer.last_error is None
        ranking = Ranking.load(ranking_path(project))
        assert ranking.note.startswith(f"ranked on Ray ({cluster.address})")
        local = suggest(project, 30, strategy="margin", explore=0.2, seed=0, head="logistic")  # Ray trains logistic
        with project.sessions() as session:
            from sqlalchemy import select

            from labelwise.store.models import Image as Row

            paths = dict(session.execute(select(Row.id, Row.path)).all())
        assert [paths[e.image_id] for e in ranking.entries] == [i.path for i in local.items]
        assert [e.top[0][0] for e in ranking.entries] == [i.predicted for i in local.items]
        assert [e.batch for e in ranking.entries] == [k // 10 + 1 for k in range(30)]  # retrain_every 10, 1 person

        # A set strategy does not shard: ranked on the server's machine, and the ranking says so.
        update_settings(project, {"strategy": "typiclust"}, user="test")
        retrainer.train_now()
        assert retrainer.last_error is None
        ranking = Ranking.load(ranking_path(project))
        assert "'typiclust' chooses its batch over the whole pool" in ranking.note and "margin" in ranking.note
        assert ranking.strategy.startswith("typiclust") and len(ranking.entries) == 30
    finally:
        retrainer.stop()
        del project.config.extra["ray_address"]
        project.save_config()
        update_settings(project, {"strategy": "auto", "queue_size": 200, "explore": 0.0}, user="test")


def test_a_set_strategy_under_ray_address_is_ranked_here_and_written_once_with_its_note(labeled_project, monkeypatch):
    """The fallback needs no cluster: the ranking file is written once, note included, so the queue
    never loads it without the note (it was saved, then noted and saved again)."""
    from labelwise.project.ray_rank import rank_for_worker
    from labelwise.project.settings import get_settings
    from labelwise.project.training import Ranking, ranking_path

    writes = []
    save = Ranking.save
    monkeypatch.setattr(Ranking, "save", lambda self, path: (writes.append(self.note), save(self, path)))
    settings = {**get_settings(labeled_project), "strategy": "typiclust", "queue_size": 20}
    ranking = rank_for_worker(labeled_project, settings, "ray://nowhere:10001")
    assert "'typiclust' chooses its batch over the whole pool" in ranking.note
    assert writes == [ranking.note]
    assert Ranking.load(ranking_path(labeled_project)).note == ranking.note


# Last: it leaves the cluster with one node.
def test_a_worker_node_killed_mid_ingest_loses_nothing_and_embeds_nothing_twice(tmp_path, cluster):
    from labelwise.project.ray_ingest import ray_reader

    images = write_fashion_folder(tmp_path / "images", per_class=12)  # 120 files in 8 blocks
    project = Project.create(tmp_path / "proj", images, backbone="squeezenet")
    reader, killed = ray_reader(cluster.address), threading.Event()

    def killing_reader(*args):
        for result in reader(*args):
            if not killed.is_set():  # the first block is back, the others are on both nodes
                cluster.kill_worker_node()
                killed.set()
            yield result

    with contextlib.suppress(Exception):  # a failure the rerun must make good
        ingest_folder(project, reader=killing_reader)
    assert killed.is_set()
    stored = len(Project(tmp_path / "proj").store)
    # A rerun finishes what is left (nothing, when Ray's retries already did) and embeds nothing twice.
    rerun = ingest_folder(project, reader=ray_reader(cluster.address))
    files = sorted(images.rglob("*.png"))
    distinct = {content_hash(p.read_bytes()) for p in files}
    final = Project(tmp_path / "proj").store
    assert sorted(final.keys()) == sorted(distinct) and final.duplicate_keys() == 0
    assert rerun.embedded == len(distinct) - stored
    info = status(tmp_path / "proj")
    assert info["images_ok"] + info["images_duplicate"] == len(files) and info["images_broken"] == 0
