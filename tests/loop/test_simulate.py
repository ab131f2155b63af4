from __future__ import annotations

import csv
import gzip
import json
import struct

import numpy as np
import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import DatasetUnavailableError
from labelwise.ingest.idx import read_idx
from labelwise.loop.active_loop import ActiveLoop
from labelwise.loop.datasets import fashion_mnist_arrays, toy
from labelwise.loop.report import labels_until_every_class, summarize
from labelwise.loop.simulate import CurvePoint, simulate

runner = CliRunner()


def test_simulate_serial_and_parallel_agree():
    data = toy()
    serial = simulate(data, ["random", "margin"], 2, 4, 4, 16, workers=1)
    parallel = simulate(data, ["random", "margin"], 2, 4, 4, 16, workers=2)
    key = lambda p: (p.strategy, p.seed, p.round)  # noqa: E731
    assert sorted(serial, key=key) == sorted(parallel, key=key)
    assert {p.n_labeled for p in serial} == {4, 8, 12, 16}


def test_simulator_reports_the_audit_estimate_beside_the_test_accuracy():
    data = toy()
    points = simulate(data, ["margin"], 1, 4, 4, 60, workers=1, audit_fraction=1.0)
    measured = [p for p in points if p.audit_accuracy is not None]
    assert measured and points[0].audit_accuracy is None  # too few audit labels at first
    for p in measured:
        assert p.audit_n >= 10 and p.audit_low <= p.audit_accuracy <= p.audit_high
    # Every label was an audit label here, drawn at random: the estimate must sit near the truth.
    last = points[-1]
    assert last.audit_low - 0.05 <= last.accuracy <= last.audit_high + 0.05
    off = simulate(data, ["margin"], 1, 4, 4, 60, workers=1, audit_fraction=0.0)
    assert all(p.audit_accuracy is None and p.audit_n == 0 for p in off)
    with pytest.raises(ValueError, match="audit_fraction"):
        simulate(data, ["margin"], 1, 4, 4, 60, audit_fraction=float("nan"))


def test_summary_labels_to_match_random_and_savings():
    points = [
        CurvePoint("d", s, seed, r, n, acc)
        for seed in (0, 1)
        for s, accs in {"random": [0.5, 0.6, 0.7], "margin": [0.5, 0.7, 0.8], "bad": [0.4, 0.5, 0.6]}.items()
        for r, (n, acc) in enumerate(zip([10, 20, 30], accs, strict=True))
    ]
    summary = summarize(points, budget=30)
    assert summary["random_final_accuracy"] == pytest.approx(0.7)
    margin = summary["strategies"]["margin"]
    assert margin["labels_to_match_random"] == 20
    assert margin["savings"] == pytest.approx(1 - 20 / 30)
    assert summary["strategies"]["bad"]["labels_to_match_random"] is None
    assert margin["mean"] == pytest.approx([0.5, 0.7, 0.8]) and margin["sd"] == pytest.approx([0, 0, 0])
    assert summary["strategies"]["random"]["savings"] is None  # no saving against itself


def test_savings_count_against_the_budget_reached_not_the_one_asked():
    points = [
        CurvePoint("d", s, 0, r, n, acc)
        for s, accs in {"random": [0.5, 0.7, 0.6], "margin": [0.5, 0.7, 0.8]}.items()
        for r, (n, acc) in enumerate(zip([10, 20, 30], accs, strict=True))
    ]
    summary = summarize(points, budget=5000)  # asked for 5000, the curves end at 30
    assert summary["budget"] == 30
    assert summary["strategies"]["margin"]["savings"] == pytest.approx(1 - 20 / 30)
    # random's curve passes its own final accuracy at 20 labels: still no saving against itself
    assert summary["strategies"]["random"]["savings"] is None


def test_labels_until_every_class_is_the_first_round_with_all_classes():
    # seed 0 has all 3 classes from 20 labels; seed 1 never gets the third one; a curve's later rounds
    # cannot undo the first (classes only accumulate, but the function must not take the last round).
    seen = {0: [2, 3, 3], 1: [1, 2, 2]}
    points = [
        CurvePoint("d", "s", seed, r, n, 0.5, classes_labeled=c)
        for seed, counts in seen.items()
        for r, (n, c) in enumerate(zip([10, 20, 30], counts, strict=True))
    ]
    assert labels_until_every_class(points, 3) == {"s": [20, None]}
    assert labels_until_every_class(points, 2) == {"s": [10, 20]}


def test_macro_f1_shows_a_rare_class_that_accuracy_hides():
    # Three blobs, the third 4% of the test split and never labeled: accuracy stays near 0.96, macro-F1
    # drops to about 2/3 (the missed class scores 0 instead of being left out of the mean).
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])

    def blobs(sizes):
        X = np.concatenate([rng.normal(c, 0.5, size=(s, 2)) for c, s in zip(centres, sizes, strict=True)])
        return X, np.repeat(np.arange(3), sizes)

    X_pool, y_pool = blobs((50, 50, 4))
    X_test, y_test = blobs((48, 48, 4))
    loop = ActiveLoop(X_pool, 3, strategy="random", X_test=X_test, y_test=y_test, estimate_accuracy=False)
    first = np.r_[0:5, 50:55]
    loop.teach(first, y_pool[first])
    loop.start()
    metrics = loop.history[-1].metrics
    assert metrics["accuracy"] == pytest.approx(0.96)
    assert metrics["macro_f1"] == pytest.approx(2 / 3, abs=0.02)
    assert metrics["classes_labeled"] == 2


def test_cli_simulate_clamps_the_budget_to_the_pool(tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        ["simulate", "--dataset", "toy", "--strategies", "random,margin", "--seeds", "1", "--batch", "100",
         "--budget", "5000", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: --budget 5000 is more than the 400 images of the pool; using 400" in text
    assert "accuracy at 400 labels" in text and "5000" not in text.split("warning")[-1].split("using 400", 1)[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget"] == 400 and summary["strategies"]["random"]["savings"] is None


def test_cli_simulate_writes_csv_summary_and_plots(tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        ["simulate", "--dataset", "toy", "--strategies", "random,margin,bald", "--seeds", "2",
         "--plot-boundary", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "labels to" in result.output and "margin" in result.output
    with open(out / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dataset", "strategy", "seed", "round", "n_labeled", "accuracy",
                             "audit_accuracy", "audit_low", "audit_high", "audit_n", "head",
                             "macro_f1", "classes_labeled", "chooser"]  # fmt: skip
    assert {r["strategy"] for r in rows} == {"random", "margin", "bald"}
    assert all(0.0 <= float(r["macro_f1"]) <= 1.0 for r in rows)
    assert {int(r["classes_labeled"]) for r in rows if int(r["n_labeled"]) == 28} == {2}
    assert max(int(r["n_labeled"]) for r in rows) == 28  # toy's default budget
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["strategies"]) == {"random", "margin", "bald"}
    assert {"labels_to_match_random", "savings", "mean", "sd"} <= set(summary["strategies"]["margin"])
    for png in ("curves.png", "boundary.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_unknown_strategy_and_dataset(tmp_path):
    result = runner.invoke(app, ["simulate", "--strategies", "random,psychic", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "psychic" in result.output
    result = runner.invoke(app, ["simulate", "--dataset", "cifar", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown 'cifar'" in result.output


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_and_corruption(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x99\x01\x00\x00\x00\x01")
    with pytest.raises(Exception, match="bad magic"):
        read_idx(tmp_path / "bad")


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist_arrays(tmp_path)


def test_fashion_mnist_reader_decodes_the_original_files_in_order():
    # The published order of the original files: a reader that skipped a header byte, read the
    # wrong endianness or shuffled would give other labels here.
    train_x, train_y, test_x, test_y = fashion_mnist_arrays()
    assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28)
    assert train_x.dtype == np.uint8 and np.bincount(train_y).tolist() == [6000] * 10
    assert train_y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert test_y[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert (train_x[0, 0] == 0).all() and train_x[0].max() == 255  # black border, a white-ish boot


def test_simulate_on_a_users_image_folder_uses_the_embedding_cache(tmp_path, fashion_folder, isolated_cache):
    args = ["simulate", "--images", str(fashion_folder), "--backbone", "squeezenet", "--strategies", "random,margin",
            "--seeds", "2", "--initial", "20", "--batch", "20", "--budget", "80", "--out"]  # fmt: skip
    args.append(str(tmp_path / "a"))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "a" / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["dataset"] for r in rows} == {"images"} and max(int(r["n_labeled"]) for r in rows) == 80
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    store_keys = isolated_cache / "embeddings" / "squeezenet" / "keys.bin"
    assert store_keys.stat().st_size == 200 * 32  # every picture embedded once
    result = runner.invoke(app, [*args[:-1], str(tmp_path / "b")])
    assert result.exit_code == 0 and store_keys.stat().st_size == 200 * 32  # nothing embedded again


def test_embed_missing_loads_only_what_the_store_lacks(tmp_path, fashion_folder):
    from PIL import Image

    from labelwise.embed import get_backbone
    from labelwise.embed.batches import embed_missing
    from labelwise.embed.store import EmbeddingStore

    files = sorted(fashion_folder.rglob("*.png"))[:70]
    keys = [f"{i:064x}" for i in range(len(files))]
    loaded: list[int] = []

    def load(i: int) -> Image.Image:
        loaded.append(i)
        return Image.open(files[i])

    store = EmbeddingStore(tmp_path, 512, "squeezenet")
    net = get_backbone("squeezenet")
    assert embed_missing(net, store, keys[:30], load, batch=8) == 30
    assert embed_missing(net, store, keys, load, batch=8) == 40
    assert sorted(loaded) == list(range(70))  # the first 30 were not loaded twice
    expected = net.embed(np.stack([net.prepare(Image.open(files[i])) for i in (3, 55)]))
    np.testing.assert_allclose(store.get([keys[3], keys[55]]), expected, rtol=1e-4, atol=1e-4)


def test_cli_refuses_plot_boundary_off_the_toy_set_before_simulating(tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(
        app, ["simulate", "--dataset", "digits", "--strategies", "random", "--seeds", "1", "--plot-boundary",
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and "--plot-boundary" in " ".join(result.output.split())
    assert not out.exists()  # refused before the simulation ran and wrote its curves
