"""The simulator on multi-label data: the side-by-side pictures, macro-F1 curves, kinds kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.loop.datasets import toy
from labelwise.loop.multilabel import (
    MultiLabelDataset,
    digits_pairs,
    fashion_mnist_pairs,
    macro_f1,
    run_multilabel_one,
    side_by_side_pairs,
    simulate_multilabel,
)
from labelwise.loop.simulate import simulate
from labelwise.strategies.registry import StrategyKindError

K = 4


def dataset(n_pool: int = 400, n_test: int = 400, seed: int = 0) -> MultiLabelDataset:
    """Class k is on when feature k is above 0.6: most images carry one or two classes, some none."""
    rng = np.random.default_rng(seed)
    X, Xt = rng.normal(size=(n_pool, 6)), rng.normal(size=(n_test, 6))
    return MultiLabelDataset("synthetic", X, (X[:, :K] > 0.6).astype(int), Xt, (Xt[:, :K] > 0.6).astype(int),
                             tuple("abcd"))  # fmt: skip


def test_side_by_side_pictures_carry_both_classes_or_one_when_they_match():
    images = np.stack([np.full((2, 3), c, dtype=np.uint8) for c in range(5)])  # picture c is all c
    pictures, Y = side_by_side_pairs(images, np.arange(5), 300, 5, np.random.default_rng(0))
    assert pictures.shape == (300, 2, 6) and Y.shape == (300, 5)
    left, right = pictures[:, 0, 0], pictures[:, 0, 3]
    expected = np.zeros((300, 5), dtype=np.int8)
    expected[np.arange(300), left] = 1
    expected[np.arange(300), right] = 1
    np.testing.assert_array_equal(Y, expected)
    same = left == right
    assert same.any() and (Y[same].sum(axis=1) == 1).all() and (Y[~same].sum(axis=1) == 2).all()


def test_macro_f1_weighs_classes_alike():
    Y = np.array([[1, 0], [1, 0], [1, 0], [0, 1]])
    assert macro_f1(Y, Y) == 1.0
    assert macro_f1(Y, np.array([[1, 0], [1, 0], [1, 0], [0, 0]])) == pytest.approx(0.5)  # the rare class missed


def test_a_curve_lands_on_every_checkpoint_and_learns():
    points = run_multilabel_one(dataset(), "max-binary-uncertainty", seed=0, initial=10, batch=20, budget=150,
                                checkpoints=[50, 100])  # fmt: skip
    ns = [p.n_labeled for p in points]
    assert ns[0] == 10 and ns[-1] == 150 and {50, 100} <= set(ns)
    assert np.all(np.diff(ns) <= 20) and np.all(np.diff(ns) > 0)
    assert points[-1].macro_f1 > 0.85 > points[0].macro_f1


def test_curves_are_reproducible_and_share_the_initial_labels():
    data = dataset()
    first = run_multilabel_one(data, "mean-binary-entropy", 3, 10, 10, 60)
    assert first == run_multilabel_one(data, "mean-binary-entropy", 3, 10, 10, 60)
    rnd = run_multilabel_one(data, "random", 3, 10, 10, 60)
    assert rnd[0].macro_f1 == first[0].macro_f1  # same seed, same random start
    assert [p.macro_f1 for p in rnd] != [p.macro_f1 for p in first]


def test_simulate_multilabel_runs_strategies_times_seeds():
    points = simulate_multilabel(dataset(), ["random", "max-binary-uncertainty"], seeds=2, initial=10, batch=20,
                                 budget=50, workers=1)  # fmt: skip
    assert {(p.strategy, p.seed) for p in points} == {(s, k) for s in ("random", "max-binary-uncertainty")
                                                      for k in (0, 1)}  # fmt: skip


def test_each_simulator_refuses_the_other_kind():
    with pytest.raises(StrategyKindError, match="'margin' is a single-label strategy"):
        simulate_multilabel(dataset(), ["margin"], 1, 10, 10, 20, workers=1)
    with pytest.raises(StrategyKindError, match="'synthetic' is multi-label"):
        simulate(dataset(), ["random"], 1, 4, 2, 8, workers=1)
    simulate(toy(), ["random"], 1, 4, 2, 6, workers=1)  # single-label data still runs


def test_a_label_matrix_with_the_wrong_columns_is_refused_naming_the_dataset():
    data = dataset()
    with pytest.raises(ValueError, match="synthetic: Y_test: expected 4 class columns, got 3"):
        MultiLabelDataset("synthetic", data.X_pool, data.Y_pool, data.X_test, data.Y_test[:, :3], tuple("abcd"))


def test_fashion_mnist_pairs_have_one_or_two_classes_per_picture_and_are_reproducible():
    data = fashion_mnist_pairs(n_pool=300, n_test=100, pca_components=16, features="pixels")
    assert data.X_pool.shape == (300, 16) and data.X_test.shape == (100, 16)
    assert data.Y_pool.shape == (300, 10) and set(np.unique(data.Y_pool.sum(axis=1))) == {1, 2}
    assert data.extras == {"features": "pixels-pca16", "picture": "56x28"}
    again = fashion_mnist_pairs(n_pool=300, n_test=100, pca_components=16, features="pixels")
    np.testing.assert_array_equal(data.Y_test, again.Y_test)
    np.testing.assert_allclose(data.X_pool, again.X_pool)


def test_digits_pairs_are_two_digits_side_by_side():
    data = digits_pairs(n_pool=200, n_test=50)
    assert data.X_pool.shape == (200, 128) and data.X_test.shape == (50, 128) and data.budget == 500
    assert set(np.unique(data.Y_pool.sum(axis=1))) == {1, 2} and data.class_names[3] == "3"
    assert data.X_pool.min() >= 0.0 and data.X_pool.max() <= 1.0
    # The left half of a picture is a training digit whose class is on in the label row.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    left = data.X_pool[0].reshape(8, 16)[:, :8].ravel() * 16.0
    (match,) = np.flatnonzero((left == X).all(axis=1))[:1]
    assert data.Y_pool[0, y[match]] == 1
    np.testing.assert_array_equal(data.Y_test, digits_pairs(n_pool=200, n_test=50).Y_test)
