"""Labeled datasets for the simulator: features for a pool and a test split, with true labels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from labelwise.embed import BACKBONE_DIMS, get_backbone
from labelwise.embed.batches import embed_into_store, embed_missing
from labelwise.embed.projection import apply_projection, project_features
from labelwise.embed.store import EmbeddingStore
from labelwise.errors import DatasetUnavailableError
from labelwise.ingest.idx import read_idx
from labelwise.ingest.pipeline import content_hash, read_files
from labelwise.ingest.scan import scan_images
from labelwise.paths import atomic_write, cache_dir

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass
class Dataset:
    """A pool with its oracle labels, a test split, and the simulator defaults that suit it."""

    name: str
    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    initial: int = 20
    batch: int = 20
    budget: int = 500
    extras: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def toy(seed: int = 7, n_pool: int = 400, n_test: int = 2000) -> Dataset:
    """Two overlapping classes in 2-D ("cats" and "milkshakes") split by a slightly tilted line.

    Two Gaussian clouds whose centres sit either side of the origin along a direction tilted by
    15 degrees: the Bayes boundary is the straight line through the origin perpendicular to it.
    """
    angle = np.deg2rad(15.0)
    normal = np.array([np.cos(angle), np.sin(angle)])
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        X = rng.normal(scale=0.6, size=(n, 2)) + np.where(y[:, None] == 1, 1.0, -1.0) * normal
        return X, y

    X_pool, y_pool = draw(n_pool)
    X_test, y_test = draw(n_test)
    return Dataset(
        "toy",
        X_pool,
        y_pool,
        X_test,
        y_test,
        ("cat", "milkshake"),
        initial=4,
        batch=2,
        budget=28,
        extras={"true_normal": normal, "true_offset": 0.0},
    )


def digits(test_size: float = 0.3) -> Dataset:
    """scikit-learn's 8x8 digits, pixels scaled to [0, 1], a fixed stratified test split."""
    X, y = load_digits(return_X_y=True)
    X_pool, X_test, y_pool, y_test = train_test_split(X / 16.0, y, test_size=test_size, stratify=y, random_state=0)
    return Dataset(
        "digits", X_pool, y_pool, X_test, y_test, tuple(str(d) for d in range(10)), initial=20, batch=20, budget=300
    )


def fashion_mnist_arrays(root: Path = FASHION_MNIST_DIR) -> tuple[np.ndarray, ...]:
    """``(train_images, train_labels, test_images, test_labels)`` as uint8 arrays."""
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    missing = [name for name in names if not (root / name).exists()]
    if missing:
        raise DatasetUnavailableError(
            f"{root / missing[0]} not found: install Fashion-MNIST with "
            "`sudo apt-get install dataset-fashion-mnist` (or run `make install`)"
        )
    return tuple(read_idx(root / name) for name in names)


def fashion_mnist_pixels_pca(n_components: int = 64, root: Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST: 60k pool, 10k test; raw pixels reduced by PCA, computed once and cached."""
    cache = cache_dir() / f"fashion-mnist-pixels-pca{n_components}.npz"
    if cache.exists():
        data = np.load(cache)
        X_pool, y_pool, X_test, y_test = (data[k] for k in ("X_pool", "y_pool", "X_test", "y_test"))
    else:
        train_x, y_pool, test_x, y_test = fashion_mnist_arrays(root)
        pca = PCA(n_components=n_components, random_state=0)
        X_pool = pca.fit_transform(train_x.reshape(len(train_x), -1) / 255.0).astype(np.float32)
        X_test = pca.transform(test_x.reshape(len(test_x), -1) / 255.0).astype(np.float32)
        atomic_write(cache, lambda file: np.savez(file, X_pool=X_pool, y_pool=y_pool, X_test=X_test, y_test=y_test))
    return Dataset(
        "fashion-mnist",
        X_pool,
        y_pool.astype(np.int64),
        X_test,
        y_test.astype(np.int64),
        FASHION_MNIST_CLASSES,
        initial=20,
        batch=20,
        budget=500,
        extras={"features": f"pixels-pca{n_components}"},
    )


def embedding_cache(backbone: str) -> EmbeddingStore:
    """The user-wide store of embeddings by content, shared by every simulation with ``backbone``."""
    return EmbeddingStore(cache_dir() / "embeddings" / backbone, BACKBONE_DIMS[backbone], backbone)


def fashion_mnist(
    backbone: str = "lite0",
    pca_components: int = 256,
    root: Path = FASHION_MNIST_DIR,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Dataset:
    """Fashion-MNIST on real image embeddings: 60k pool, 10k test.

    Each 28x28 grey picture is embedded once by ``backbone`` (keyed by the hash of its pixels, in
    the user's cache), then pool and test are projected by a PCA fitted on the pool.
    """
    train_x, y_pool, test_x, y_test = fashion_mnist_arrays(root)
    images = np.concatenate([train_x, test_x])
    keys = [content_hash(b"fashion-mnist:" + img.tobytes()) for img in images]
    store = embedding_cache(backbone)
    net = get_backbone(backbone)
    if on_total:
        on_total(sum(k not in store for k in keys))
    embed_missing(net, store, keys, lambda i: Image.fromarray(images[i]), on_progress=on_progress)
    vectors = store.get(keys)
    cache = cache_dir() / "pca" / f"fashion-mnist-{backbone}-{pca_components}.npz"
    X = project_features(vectors[: len(train_x)], pca_components, cache)
    X_test = apply_projection(vectors[len(train_x) :], cache, pca_components)
    return Dataset(
        "fashion-mnist", X, y_pool.astype(np.int64), X_test, y_test.astype(np.int64), FASHION_MNIST_CLASSES,
        initial=20, batch=20, budget=500, extras={"features": f"{backbone}-pca{pca_components}"},
    )  # fmt: skip


def embed_through_cache(
    files: list, store: EmbeddingStore, net, on_progress: Callable[[int], None] | None = None
) -> Iterator:
    """Each file's read result, in order; the pictures not yet in ``store`` are embedded by ``net``
    into it, 64 at a time, so that every yielded non-broken result's vector is in the store once the
    iteration has ended. Broken files are yielded too (``result.broken``, ``result.reason``)."""
    pending: list = []
    for result in read_files(files, net.prepare, net.input_size, store.__contains__):
        if on_progress:
            on_progress(1)
        if not result.broken and result.pixels is not None:
            pending.append(result)
            if len(pending) >= 64:
                embed_into_store(net, store, [r.content_hash for r in pending], [r.pixels for r in pending])
                pending.clear()
        yield result
    if pending:
        embed_into_store(net, store, [r.content_hash for r in pending], [r.pixels for r in pending])


def image_folder(
    root: str | Path,
    test_fraction: float = 0.2,
    backbone: str = "lite0",
    pca_components: int = 256,
    seed: int = 0,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Dataset:
    """A labeled ImageFolder of the user's (sub-folder name = class), embedded through the cache.

    Broken files are skipped (the ingest pipeline says why); the test split is stratified.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetUnavailableError(f"{root}: images folder not found")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: must be between 0 and 1, got {test_fraction}")
    files = [f for f in scan_images(root) if "/" in f.rel]
    store, net = embedding_cache(backbone), get_backbone(backbone)
    if on_total:
        on_total(len(files))
    keys, classes = [], []
    for result in embed_through_cache(files, store, net, on_progress):
        if result.broken:
            continue
        keys.append(result.content_hash)
        classes.append(result.found.rel.split("/", 1)[0])
    names = sorted(set(classes))
    if len(names) < 2:
        raise DatasetUnavailableError(f"{root}: needs images in at least two class sub-folders, found {len(names)}")
    y = np.array([names.index(c) for c in classes], dtype=np.int64)
    X = project_features(store.get(keys), pca_components, None, seed=seed)
    X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed)
    budget = min(500, len(y_pool))
    return Dataset(root.name or "images", X_pool, y_pool, X_test, y_test, tuple(names),
                   initial=min(20, budget), batch=20, budget=budget)  # fmt: skip


LOADERS = {
    "toy": toy,
    "digits": digits,
    "fashion-mnist": fashion_mnist,
    "fashion-mnist-pixels": fashion_mnist_pixels_pca,
}


def load_dataset(name: str, **options) -> Dataset:
    """A built-in dataset by name: ``toy``, ``digits``, ``fashion-mnist`` or ``fashion-mnist-pixels``."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"dataset: unknown {name!r}; known: {', '.join(LOADERS)}") from None
    return loader(**options)
