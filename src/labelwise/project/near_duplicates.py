"""Near-duplicate groups: images whose embeddings are nearly the same direction (a crop, a shift, a
re-encode of one picture), found after every ingest, kept out of one served batch together.

Byte-identical files are ``duplicate`` at ingest already; these are different files of (nearly) one
picture. The cosine threshold is the project's ``near_duplicate_threshold`` (labelwise.toml, default
``DEFAULT_THRESHOLD``), compared on the backbone's own vectors (not the PCA projection, whose centring
changes angles). ``benchmarks/bench_near_duplicates.py`` measures precision and recall.

Off unless the project sets a threshold (``init --near-duplicates 0.97``): on squeezenet vectors of
small grey pictures the measured precision at a threshold with useful recall was too low (see
docs/faster.md) to keep images out of batches by default, and a served batch that differs from the
strategy's would break the served = simulated parity for every project.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.paths import atomic_write
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Image
from labelwise.strategies.neighbours import near_duplicate_groups

FILE = "near_duplicates.npz"
KEY = "near_duplicate_threshold"


def threshold(project: Project) -> float | None:
    """The project's cosine threshold, ``None`` when near-duplicate grouping is off."""
    value = project.config.extra.get(KEY)
    return None if value is None else float(value)


def set_threshold(project: Project, value: float | None) -> None:
    if value is not None and not 0.0 < value <= 1.0:
        raise LabelwiseError(f"--near-duplicates: a cosine similarity in (0, 1], got {value}")
    if value is None:
        project.config.extra.pop(KEY, None)
    else:
        project.config.extra[KEY] = float(value)
    project.save_config()


def update_near_duplicates(project: Project) -> int:
    """Group the project's ok images anew (nothing when grouping is off); returns the number of groups."""
    path = project.folder / "models" / FILE
    if threshold(project) is None:
        path.unlink(missing_ok=True)
        return 0
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.content_hash).where(Image.status == STATUS_OK).order_by(Image.id)
        ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = project.store.get([r[1] for r in rows]) if rows else np.empty((0, 1), np.float32)
    groups = near_duplicate_groups(vectors, threshold(project)) if rows else np.empty(0, np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: np.savez(file, image_ids=ids, groups=groups, threshold=threshold(project)))
    return int(groups.max() + 1) if groups.size else 0


def group_of(project: Project) -> Mapping[int, int]:
    """image id -> its near-duplicate group, for grouped images only (empty before the first ingest).

    Read once per version of the file: every queue request asks (twice), and the file is rewritten
    (a new inode and time) only by an ingest."""
    path = project.folder / "models" / FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return MappingProxyType({})
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    last = _last_read
    if last is not None and last[0] == key:
        return last[1]
    data = np.load(path)
    keep = data["groups"] >= 0
    groups = MappingProxyType(dict(zip(data["image_ids"][keep].tolist(), data["groups"][keep].tolist(), strict=True)))
    _remember(key, groups)
    return groups


# The last file read by group_of: ((path, inode, time, size), its groups), replaced as one tuple so that
# concurrent requests never see one file's key with another's groups.
_last_read: tuple | None = None


def _remember(key: tuple, groups: Mapping[int, int]) -> None:
    global _last_read
    _last_read = (key, groups)


def group_members(project: Project, image_id: int) -> list[int]:
    """The ids of the images in ``image_id``'s group, itself included (just itself when ungrouped)."""
    groups = group_of(project)
    if image_id not in groups:
        return [image_id]
    return sorted(i for i, g in groups.items() if g == groups[image_id])


def near_duplicate_summary(project: Project) -> list[list[str]]:
    """Every group as the paths of its images, largest groups first."""
    groups = group_of(project)
    with project.sessions() as session:
        paths = (
            dict(session.execute(select(Image.id, Image.path).where(Image.id.in_(list(groups)))).all())
            if groups
            else {}
        )
    by_group: dict[int, list[str]] = {}
    for image_id, group in groups.items():
        if image_id in paths:
            by_group.setdefault(group, []).append(paths[image_id])
    return sorted((sorted(members) for members in by_group.values()), key=lambda m: (-len(m), m[0]))
