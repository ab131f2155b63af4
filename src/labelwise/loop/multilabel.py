"""The simulator on multi-label data: replay the loop with a dataset's true label sets as the oracle.

Each curve starts from random initial labels shared by every strategy for a seed, then asks a
multi-label strategy for batches up to the budget, retraining the one-vs-rest head after each, and
records macro-F1 on the test split (a class is predicted on where its probability reaches 0.5).
Macro-F1 weighs every class alike, so a strategy cannot win by learning only the frequent ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from labelwise.embed import get_backbone
from labelwise.embed.batches import embed_missing
from labelwise.embed.projection import fit_projection
from labelwise.ingest.pipeline import content_hash
from labelwise.learn.multilabel import MultiLabelHead, check_label_matrix
from labelwise.loop.datasets import FASHION_MNIST_CLASSES, embedding_cache, fashion_mnist_arrays
from labelwise.loop.simulate import label_targets, run_curves
from labelwise.strategies.multilabel import get_multilabel_strategy


@dataclass
class MultiLabelDataset:
    """A pool with its oracle label matrix ``Y_pool`` ``(n, K)`` in {0, 1}, and a test split."""

    name: str
    X_pool: np.ndarray
    Y_pool: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    class_names: tuple[str, ...]
    extras: dict = field(default_factory=dict)
    # The simulator's defaults for this set (as Dataset has): the protocol, 20 + 20 per batch to 1,000.
    initial: int = 20
    batch: int = 20
    budget: int = 1000

    def __post_init__(self) -> None:
        k = len(self.class_names)
        self.Y_pool = check_label_matrix(self.Y_pool, k, f"{self.name}: Y_pool")
        self.Y_test = check_label_matrix(self.Y_test, k, f"{self.name}: Y_test")
        for X, Y, split in ((self.X_pool, self.Y_pool, "pool"), (self.X_test, self.Y_test, "test")):
            if X.shape[0] != Y.shape[0]:
                raise ValueError(f"{self.name}: {split} has {X.shape[0]} feature rows against {Y.shape[0]} label rows")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def side_by_side_pairs(
    images: np.ndarray, labels: np.ndarray, n: int, n_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pictures made of two random ``images`` side by side (``(h, w)`` -> ``(h, 2w)``) and their
    label matrix ``(n, n_classes)``: the two items' classes, one class when both are the same."""
    left, right = rng.integers(0, len(images), n), rng.integers(0, len(images), n)
    pictures = np.concatenate([images[left], images[right]], axis=2)
    Y = np.zeros((n, n_classes), dtype=np.int8)
    Y[np.arange(n), labels[left]] = 1
    Y[np.arange(n), labels[right]] = 1
    return pictures, Y


def fashion_mnist_pairs(n_pool: int = 10_000, n_test: int = 5_000, pca_components: int | None = None,
                        seed: int = 0, features: str = "lite0") -> MultiLabelDataset:  # fmt: skip
    """Two Fashion-MNIST items side by side in one 56x28 picture, labeled with their classes (one or two).

    The pool pairs training images, the test split pairs test images. ``features``: a backbone name
    (``lite0``, the product's default: each picture embedded once, keyed by the hash of its pixels in
    the user's embedding cache, then a PCA to ``pca_components`` (default 256, as single-label
    Fashion-MNIST) fitted on the pool), or ``pixels`` (a PCA of the raw pixels, default 64: seconds
    instead of minutes, but a head near its ceiling at 1,000 labels).
    """
    train_x, train_y, test_x, test_y = fashion_mnist_arrays()
    rng = np.random.default_rng(seed)
    k = len(FASHION_MNIST_CLASSES)
    pool_pics, Y_pool = side_by_side_pairs(train_x, train_y, n_pool, k, rng)
    test_pics, Y_test = side_by_side_pairs(test_x, test_y, n_test, k, rng)
    if features == "pixels":
        components = pca_components or 64
        flat = lambda pics: pics.reshape(len(pics), -1).astype(np.float32) / 255.0  # noqa: E731
        pca = PCA(n_components=components, random_state=0).fit(flat(pool_pics))
        X_pool, X_test = pca.transform(flat(pool_pics)), pca.transform(flat(test_pics))
    else:
        components = pca_components or 256
        vectors = embed_pictures(np.concatenate([pool_pics, test_pics]), features)
        X_pool, projection = fit_projection(vectors[:n_pool], components, seed=seed)
        X_test = vectors[n_pool:] if projection is None else projection.apply(vectors[n_pool:])
    return MultiLabelDataset(
        "fmnist-pairs", np.asarray(X_pool, np.float32), Y_pool, np.asarray(X_test, np.float32), Y_test,
        FASHION_MNIST_CLASSES, extras={"features": f"{features}-pca{components}", "picture": "56x28"},
    )  # fmt: skip


def digits_pairs(n_pool: int = 3_000, n_test: int = 1_500, seed: int = 0) -> MultiLabelDataset:
    """scikit-learn's 8x8 digits, two side by side in one 8x16 picture, labeled with their digits (one or
    two); features are the 128 pixels scaled to [0, 1]. The pool pairs the single-label ``digits`` set's
    training digits, the test split its test digits. A second, small multi-label set: 1,257 training
    digits make at most 1.6 million pairs, so 3,000 rarely repeat a pair; the budget is 500."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(seed)
    pool_pics, Y_pool = side_by_side_pairs(X_train.reshape(-1, 8, 8), y_train, n_pool, 10, rng)
    test_pics, Y_test = side_by_side_pairs(X_test.reshape(-1, 8, 8), y_test, n_test, 10, rng)
    return MultiLabelDataset(
        "digits-pairs", pool_pics.reshape(n_pool, -1).astype(np.float32), Y_pool,
        test_pics.reshape(n_test, -1).astype(np.float32), Y_test, tuple(str(d) for d in range(10)),
        extras={"features": "pixels", "picture": "8x16"}, budget=500,
    )  # fmt: skip


def embed_pictures(pictures: np.ndarray, backbone: str) -> np.ndarray:
    """``(n, dim)`` embeddings of grey ``pictures`` ``(n, h, w)`` uint8, through the user's embedding
    cache (keyed by the hash of the pixels and the shape, so a second run only looks them up)."""
    keys = [content_hash(b"fashion-mnist-pair:%dx%d:" % p.shape + p.tobytes()) for p in pictures]
    store = embedding_cache(backbone)
    embed_missing(get_backbone(backbone), store, keys, lambda i: Image.fromarray(pictures[i]))
    return store.get(keys)


def macro_f1(Y_true: np.ndarray, Y_pred: np.ndarray) -> float:
    """Mean over classes of F1; a class neither present nor predicted counts as 0 (scikit-learn's
    ``zero_division=0``), so an empty test class cannot flatter a model."""
    return float(f1_score(Y_true, Y_pred, average="macro", zero_division=0))


@dataclass(frozen=True)
class MultiLabelPoint:
    dataset: str
    strategy: str
    seed: int
    round: int
    n_labeled: int
    macro_f1: float


def run_multilabel_one(
    dataset: MultiLabelDataset,
    strategy: str,
    seed: int,
    initial: int,
    batch: int,
    budget: int,
    checkpoints: list[int] | None = None,
) -> list[MultiLabelPoint]:
    """One learning curve of macro-F1: ``initial`` random labels, then ``strategy``'s batches to ``budget``."""
    chosen = get_multilabel_strategy(strategy)
    n_pool = dataset.X_pool.shape[0]
    if not 1 <= initial <= budget:
        raise ValueError(f"initial: must be between 1 and the budget {budget}, got {initial}")
    labeled = np.zeros(n_pool, dtype=bool)
    # The same start as the single-label simulator's initial_indices, shared by every strategy of a seed.
    labeled[np.random.default_rng(10_000 + seed).choice(n_pool, size=min(initial, n_pool), replace=False)] = True
    head = MultiLabelHead(list(range(dataset.n_classes)))
    points, round_ = [], 0
    while True:
        head.fit(dataset.X_pool[labeled], dataset.Y_pool[labeled])
        n = int(labeled.sum())
        points.append(MultiLabelPoint(dataset.name, strategy, seed, round_, n,
                                      macro_f1(dataset.Y_test, head.predict(dataset.X_test))))  # fmt: skip
        targets = label_targets(n, budget, batch, checkpoints)
        if not targets or labeled.all():
            break
        probs = head.predict_proba(dataset.X_pool)
        picks = chosen.query(probs, labeled, targets[0] - n, seed=seed * 1_000 + round_,
                             embeddings=dataset.X_pool, labels=dataset.Y_pool[labeled])  # fmt: skip
        labeled[picks] = True
        round_ += 1
    return points


def _curve(dataset: MultiLabelDataset, job: tuple) -> list[MultiLabelPoint]:
    return run_multilabel_one(dataset, *job)


def simulate_multilabel(
    dataset: MultiLabelDataset,
    strategies: Iterable[str],
    seeds: int,
    initial: int,
    batch: int,
    budget: int,
    *,
    checkpoints: list[int] | None = None,
    workers: int | None = None,
    on_done: Callable[[list[MultiLabelPoint]], None] | None = None,
) -> list[MultiLabelPoint]:
    """All macro-F1 curves, strategies x seeds, seeds in parallel processes (one BLAS thread each);
    ``on_done`` is called as each curve finishes."""
    strategies = [get_multilabel_strategy(name).name for name in strategies]  # a wrong kind fails here
    if budget < initial:
        raise ValueError(f"budget: {budget} is below the {initial} initial labels")
    jobs = [(s, seed, initial, batch, budget, checkpoints) for seed in range(seeds) for s in strategies]
    return run_curves(dataset, jobs, _curve, workers=workers, on_done=on_done)
