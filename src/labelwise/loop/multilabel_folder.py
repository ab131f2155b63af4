"""A user's multi-label images for the simulator: a folder of pictures and a labels CSV.

The CSV has one row per image, ``path,labels``: the path relative to the folder, and its classes joined
with ``;`` (the multi-label export's format); an empty ``labels`` cell is an explicit "none of the
classes". A header row naming the columns (``path``/``image``/``file`` and ``labels``/``label``/``classes``)
is optional. The classes are every name the CSV uses, sorted. Only images listed in the CSV take part.

The simulator needs every oracle label to be right, so any bad row (a missing column, a path given
twice, an image that is not in the folder or cannot be decoded) stops the load with the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from labelwise.embed import get_backbone
from labelwise.embed.projection import fit_projection
from labelwise.errors import DatasetUnavailableError
from labelwise.ingest.scan import scan_images
from labelwise.loop.datasets import embed_through_cache, embedding_cache
from labelwise.loop.multilabel import MultiLabelDataset

PATH_COLUMNS = ("path", "image", "file")
LABEL_COLUMNS = ("labels", "label", "classes")


def read_label_sets(csv_path: Path) -> dict[str, tuple[int, frozenset[str]]]:
    """``path -> (line, classes)`` from a labels CSV, or ``DatasetUnavailableError`` naming file and line."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetUnavailableError(f"{csv_path}: cannot read labels: {exc}") from None
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1) if any(c.strip() for c in row)]
    if rows and rows[0][1] and rows[0][1][0].strip().lower() in PATH_COLUMNS:
        header = [c.strip().lower() for c in rows[0][1]]
        if len(header) != 2 or header[1] not in LABEL_COLUMNS:
            raise DatasetUnavailableError(f"{csv_path}:1: header {rows[0][1]!r}: expected path,labels")
        rows = rows[1:]
    sets: dict[str, tuple[int, frozenset[str]]] = {}
    for number, row in rows:
        if len(row) != 2:
            raise DatasetUnavailableError(f"{csv_path}:{number}: expected 2 columns (path,labels); got {row!r}")
        path, cell = row[0].strip(), row[1]
        if path in sets:
            raise DatasetUnavailableError(f"{csv_path}:{number}: {path!r} is already labeled at line {sets[path][0]}")
        names = [c.strip() for c in cell.split(";")] if cell.strip() else []
        if any(not name for name in names):
            raise DatasetUnavailableError(f"{csv_path}:{number}: labels {cell!r}: an empty class name")
        sets[path] = (number, frozenset(names))
    if not sets:
        raise DatasetUnavailableError(f"{csv_path}: no labeled image")
    return sets


def multilabel_image_folder(
    root: str | Path,
    labels_csv: str | Path,
    test_fraction: float = 0.2,
    backbone: str = "lite0",
    pca_components: int = 256,
    seed: int = 0,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> MultiLabelDataset:
    """The images of ``root`` listed in ``labels_csv``, embedded through the user's cache (by content),
    projected by a PCA fitted on the pool, split at random into pool and test (``test_fraction``)."""
    root, labels_csv = Path(root), Path(labels_csv)
    if not root.is_dir():
        raise DatasetUnavailableError(f"{root}: images folder not found")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: must be between 0 and 1, got {test_fraction}")
    sets = read_label_sets(labels_csv)
    found = {f.rel: f for f in scan_images(root)}
    missing = [p for p in sets if p not in found]
    if missing:
        raise DatasetUnavailableError(f"{labels_csv}:{sets[missing[0]][0]}: {missing[0]!r} is not an image in {root}")
    names = sorted(set().union(*(classes for _, classes in sets.values())))
    if not names:
        raise DatasetUnavailableError(f"{labels_csv}: no class is named in any row")
    store, net = embedding_cache(backbone), get_backbone(backbone)
    if on_total:
        on_total(len(sets))
    keys: list[str] = []
    for result in embed_through_cache([found[p] for p in sets], store, net, on_progress):
        if result.broken:
            line = sets[result.found.rel][0]
            raise DatasetUnavailableError(f"{labels_csv}:{line}: {result.found.rel}: {result.reason}")
        keys.append(str(result.content_hash))
    Y = np.array([[name in classes for name in names] for _, classes in sets.values()], dtype=np.int8)
    pool, test = train_test_split(np.arange(len(keys)), test_size=test_fraction, random_state=seed)
    vectors = store.get(keys)
    X_pool, projection = fit_projection(vectors[pool], pca_components, seed=seed)
    X_test = vectors[test] if projection is None else projection.apply(vectors[test])
    return MultiLabelDataset(
        root.name or "images", np.asarray(X_pool, np.float32), Y[pool], np.asarray(X_test, np.float32), Y[test],
        tuple(names), extras={"features": f"{backbone}-pca{pca_components}"},
    )  # fmt: skip
