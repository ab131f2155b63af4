"""`labelwise simulate` on multi-label data: the built-in pairs and a user's folder with a labels CSV."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays

runner = CliRunner()


def simulate(*args: str):
    return runner.invoke(app, ["simulate", *args])


def test_fmnist_pairs_writes_macro_f1_curves_summary_plot_and_prints_the_table(tmp_path):
    out = tmp_path / "sim"
    result = simulate("--dataset", "fmnist-pairs-pixels", "--strategies", "random,max-binary-uncertainty,mmc",
                      "--seeds", "2", "--batch", "20", "--budget", "60", "--workers", "1",
                      "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "fmnist-pairs: macro-F1 at 60 labels (mean ± sd over 2 seeds)" in text and "mmc" in text
    with open(out / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dataset", "strategy", "seed", "round", "n_labeled", "macro_f1"]
    assert {(r["strategy"], r["seed"]) for r in rows} == {(s, k) for s in ("random", "max-binary-uncertainty", "mmc")
                                                          for k in "01"}  # fmt: skip
    assert {int(r["n_labeled"]) for r in rows} == {20, 40, 60}
    assert all(0.0 < float(r["macro_f1"]) < 1.0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric"] == "macro_f1" and summary["budget"] == 60 and summary["features"] == "pixels-pca64"
    random_rows = [float(r["macro_f1"]) for r in rows if r["strategy"] == "random" and r["n_labeled"] == "60"]
    assert summary["random_final_macro_f1"] == np.mean(random_rows)
    assert {"labels_to_match_random", "savings", "mean", "sd"} <= set(summary["strategies"]["mmc"])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_kind_of_run_refuses_the_other_kinds_strategies(tmp_path):
    result = simulate("--dataset", "fmnist-pairs-pixels", "--strategies", "random,margin", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "'margin' is a single-label strategy" in " ".join(result.output.split())
    result = simulate("--dataset", "toy", "--strategies", "random,max-binary-uncertainty", "--out", str(tmp_path))
    assert result.exit_code == 2 and "'max-binary-uncertainty' is a multi-label strategy" in result.output


def test_options_that_do_not_fit_a_multi_label_run_are_refused(tmp_path):
    result = simulate("--dataset", "toy", "--multi-label", "--out", str(tmp_path))
    assert result.exit_code == 2 and "dataset 'toy' is single-label" in result.output
    result = simulate("--dataset", "fmnist-pairs-pixels", "--head", "self-training", "--out", str(tmp_path))
    assert result.exit_code == 2 and "one-vs-rest logistic heads only" in result.output
    result = simulate("--dataset", "toy", "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path))
    assert result.exit_code == 2 and "--labels goes with --images" in result.output


def write_pairs_folder(root, n: int) -> list[str]:
    """``n`` real 56x28 pictures of two Fashion-MNIST items as PNG files, and their CSV rows."""
    train_x, train_y, _, _ = fashion_mnist_arrays()
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        left, right = 2 * i, 2 * i + 1
        Image.fromarray(np.concatenate([train_x[left], train_x[right]], axis=1)).save(root / f"{i:03d}.png")
        names = sorted({FASHION_MNIST_CLASSES[train_y[left]], FASHION_MNIST_CLASSES[train_y[right]]})
        rows.append(f"{i:03d}.png,{';'.join(names)}")
    return rows


def test_a_users_folder_with_a_labels_csv_runs_multi_label(tmp_path, monkeypatch):
    # A cache of this test's own: the session's shared one is counted by other tests.
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path / "cache"))
    rows = write_pairs_folder(tmp_path / "pairs", 60)
    (tmp_path / "labels.csv").write_text("path,labels\n" + "\n".join(rows) + "\n")
    out = tmp_path / "sim"
    result = simulate("--images", str(tmp_path / "pairs"), "--multi-label", "--labels", str(tmp_path / "labels.csv"),
                      "--backbone", "squeezenet", "--strategies", "random,max-margin", "--seeds", "1",
                      "--initial", "10", "--batch", "10", "--budget", "30", "--workers", "1",
                      "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "pairs" and summary["budget"] == 30
    assert summary["strategies"]["max-margin"]["n_labeled"] == [10, 20, 30]
    assert (tmp_path / "cache" / "embeddings" / "squeezenet" / "keys.bin").stat().st_size == 60 * 32


def test_a_bad_labels_row_is_named_by_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path / "cache"))
    rows = write_pairs_folder(tmp_path / "pairs", 3)
    rows[1] = "missing.png,Bag"
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    result = simulate("--images", str(tmp_path / "pairs"), "--multi-label", "--labels", str(tmp_path / "labels.csv"),
                      "--out", str(tmp_path / "sim"))  # fmt: skip
    assert result.exit_code == 2
    assert f"{tmp_path / 'labels.csv'}:2: 'missing.png' is not an image in" in " ".join(result.output.split())
    result = simulate("--images", str(tmp_path / "pairs"), "--multi-label", "--out", str(tmp_path / "sim"))
    assert result.exit_code == 2 and "needs --labels CSV" in result.output
