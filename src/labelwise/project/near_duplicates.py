"""Near-duplicate groups: images whose embeddings are nearly the same direction (a crop, a shift, a
re-encode of one picture), found after every ingest, kept out of one served batch together.

Byte-identical files are ``duplicate`` at ingest already; these are different files of (nearly) one
picture. Every two images of a group have a cosine similarity of at least the project's
``near_duplicate_threshold`` (labelwise.toml; complete linkage,
:func:`labelwise.strategies.neighbours.near_duplicate_groups`), compared on the backbone's own vectors
(not the PCA projection, whose centring changes angles); the pairs come from an exact search, or from
an IVF index (faiss) above ``EXACT_LIMIT`` images. ``benchmarks/bench_near_duplicates.py`` measures
precision and recall.

Off unless the project sets a threshold (``init --near-duplicates 0.93``): the threshold that works
depends on the backbone (lite0's and squeezenet's cosines differ by 0.04 at equal precision) and on
the kind of images, and it was measured on one pool only (docs/faster.md), so no default is claimed;
and a served batch that differs from the strategy's would break the served = simulated parity for
every project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Groups:
    """One read of the groups file: each grouped image's group, and each group's members (read-only)."""

    of: Mapping[int, int]  # image id -> group
    members: Mapping[int, tuple[int, ...]]  # group -> its image ids, ascending


_NO_GROUPS = Groups(MappingProxyType({}), MappingProxyType({}))


def _groups(project: Project) -> Groups:
    """The project's groups, read once per version of the file: every queue request asks, and the file
    is rewritten (a new inode and time) only by an ingest. Members are gathered here, once, so that a
    request asking for one group's size or members costs that group's size, not the pool's."""
    path = project.folder / "models" / FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return _NO_GROUPS
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    last = _last_read
    if last is not None and last[0] == key:
        return last[1]
    data = np.load(path)
    keep = data["groups"] >= 0
    of = dict(zip(data["image_ids"][keep].tolist(), data["groups"][keep].tolist(), strict=True))
    members: dict[int, list[int]] = {}
    for image_id, group in of.items():
        members.setdefault(group, []).append(image_id)
    groups = Groups(MappingProxyType(of), MappingProxyType({g: tuple(sorted(m)) for g, m in members.items()}))
    _remember(key, groups)
    return groups


# The last file read by _groups: ((path, inode, time, size), its Groups), replaced as one tuple so that
# concurrent requests never see one file's key with another's groups.
_last_read: tuple | None = None


def _remember(key: tuple, groups: Groups) -> None:
    global _last_read
    _last_read = (key, groups)


def group_of(project: Project) -> Mapping[int, int]:
    """image id -> its near-duplicate group, for grouped images only (empty before the first ingest)."""
    return _groups(project).of


def group_members(project: Project, image_id: int) -> list[int]:
    """The ids of the images in ``image_id``'s group, itself included (just itself when ungrouped)."""
    groups = _groups(project)
    group = groups.of.get(image_id)
    return [image_id] if group is None else list(groups.members[group])


def near_duplicate_counts(project: Project, image_ids: list[int]) -> dict[int, int]:
    """For each of ``image_ids``, how many other images its group holds (0 when ungrouped)."""
    groups = _groups(project)
    return {i: len(groups.members[groups.of[i]]) - 1 if i in groups.of else 0 for i in image_ids}


def near_duplicate_summary(project: Project) -> list[list[str]]:
    """Every group as the paths of its images, largest groups first."""
    groups = _groups(project)
    with project.sessions() as session:
        paths = (
            dict(session.execute(select(Image.id, Image.path).where(Image.id.in_(list(groups.of)))).all())
            if groups.of
            else {}
        )
    by_group = ([paths[i] for i in members if i in paths] for members in groups.members.values())
    return sorted((sorted(m) for m in by_group if m), key=lambda m: (-len(m), m[0]))
