"""``labelwise check``: does the project on disk still hold together?

Three levels, cheapest first:

- the database and the embedding store agree: every ok image's content has a vector (``cheap``,
  what the server runs at start);
- every recorded file is still there with the recorded size and modification time;
- a random sample of ok images is re-embedded and compared with its stored vector by cosine, so a
  vector that belongs to another image (what a torn store used to produce) is found.

``repair`` re-embeds, under the project's write lock, the images found without a vector or with a
wrong one; files that changed or vanished are left to ``labelwise add``, which follows the folder.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from labelwise.ingest.objstore import ObjectPath, is_uri
from labelwise.ingest.pipeline import read_file
from labelwise.ingest.scan import FoundFile
from labelwise.project.lock import project_writer
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Image

# Re-embedding the same bytes with the same backbone gives the same vector up to float noise;
# another image's vector is far below this (cosine 0.14-0.32 in the reported damage).
MIN_COSINE = 0.99


@dataclass
class CheckReport:
    images_ok: int = 0
    store_rows: int = 0
    without_vector: list[str] = field(default_factory=list)  # paths of ok images
    wrong_vector: list[str] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) met while re-embedding
    sampled: int = 0
    repaired: int = 0

    @property
    def problems(self) -> int:
        return (
            len(self.without_vector) + len(self.wrong_vector) + len(self.files_missing) + len(self.files_changed)
            + len(self.unreadable)
        )  # fmt: skip

    @property
    def summary(self) -> str:
        parts = [
            f"{self.images_ok} ok images, {self.store_rows} stored vectors",
            f"{len(self.without_vector)} without a vector",
        ]
        if self.sampled:
            parts.append(f"{len(self.wrong_vector)} of {self.sampled} re-embedded with a wrong vector")
        parts.append(f"{len(self.files_missing)} files missing, {len(self.files_changed)} files changed")
        if self.repaired:
            parts.append(f"{self.repaired} re-embedded")
        return ", ".join(parts)


def check_project(
    project: Project, *, cheap: bool = False, sample: int = 64, seed: int = 0, repair: bool = False
) -> CheckReport:
    """Check ``project`` (see the module docstring); ``sample`` images are re-embedded (all of them
    with ``sample <= 0``). With ``repair``, what is found without or with a wrong vector is
    re-embedded, and when the sample found a wrong vector every ok image is compared first."""
    report = CheckReport()
    with project.sessions() as session:
        rows = session.execute(
            select(Image.path, Image.content_hash, Image.size_bytes, Image.mtime_ns)
            .where(Image.status == STATUS_OK)
            .order_by(Image.id)
        ).all()
    store = project.store
    report.images_ok, report.store_rows = len(rows), len(store)
    with_vector = []
    for row in rows:
        (with_vector if row.content_hash in store else report.without_vector).append(row)
    missing_rows = list(report.without_vector)
    report.without_vector = [r.path for r in missing_rows]
    if cheap:
        return report
    root = project.images_root
    readable = []
    for row in rows:
        try:
            path = _located(root, row.path)
            size_and_mtime = path.size_and_mtime() if isinstance(path, ObjectPath) else _stat(path)
        except FileNotFoundError:
            report.files_missing.append(row.path)
            continue
        if size_and_mtime != (row.size_bytes, row.mtime_ns):
            report.files_changed.append(row.path)
            continue
        readable.append(row)
    fine = {r.path for r in readable}
    candidates = [r for r in with_vector if r.path in fine]
    if 0 < sample < len(candidates):
        candidates = random.Random(seed).sample(candidates, sample)
    wrong = _compare(project, candidates, report)
    if repair and wrong and len(candidates) < len(fine):
        # One wrong vector in a sample means more elsewhere: compare them all before repairing.
        report.wrong_vector.clear()
        report.unreadable.clear()
        candidates = [r for r in with_vector if r.path in fine]
        wrong = _compare(project, candidates, report)
    if repair:
        todo = [r for r in missing_rows if r.path in fine] + wrong
        if todo:
            with project_writer(project.folder):
                report.repaired = _reembed(project, todo, report, replace=True)
            report.without_vector = [p for p in report.without_vector if p not in fine]
            report.wrong_vector = []
    return report


def _located(root: Path, path: str) -> Path | ObjectPath:
    """A stored path's file: under the images folder, or the object of its URI (an object store project)."""
    return ObjectPath(path) if is_uri(path) else root / path


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _embed(project: Project, rows: list, report: CheckReport) -> tuple[list, np.ndarray]:
    """Embed the files of ``rows`` whose bytes still have the recorded content hash."""
    backbone, root = project.backbone, project.images_root
    kept, pixels = [], []
    for row in rows:
        found = FoundFile(_located(root, row.path), row.path, row.size_bytes, row.mtime_ns, None)
        result = read_file(found, backbone.prepare, backbone.input_size, lambda _: False, project.config.max_pixels)
        if result.broken or result.pixels is None:
            report.unreadable.append((row.path, result.reason or "cannot be decoded"))
        elif result.content_hash != row.content_hash:
            report.files_changed.append(row.path)  # same size and time, other bytes: left to `add`
        else:
            kept.append(row)
            pixels.append(result.pixels)
    vectors = np.empty((0, project.store.dim), np.float32)
    for start in range(0, len(pixels), 64):
        vectors = np.concatenate([vectors, backbone.embed(np.stack(pixels[start : start + 64]))])
    return kept, vectors


def _compare(project: Project, rows: list, report: CheckReport) -> list:
    """Re-embed ``rows`` and return those whose stored vector is not their own."""
    kept, fresh = _embed(project, rows, report)
    report.sampled = len(kept)
    if not kept:
        return []
    stored = project.store.get([r.content_hash for r in kept])
    norms = np.linalg.norm(stored, axis=1) * np.linalg.norm(fresh, axis=1)
    cosine = (stored * fresh).sum(1) / np.maximum(norms, 1e-12)
    wrong = [row for row, c in zip(kept, cosine, strict=True) if c < MIN_COSINE]
    report.wrong_vector.extend(r.path for r in wrong)
    return wrong


def _reembed(project: Project, rows: list, report: CheckReport, *, replace: bool) -> int:
    kept, vectors = _embed(project, rows, report)
    if not kept:
        return 0
    # A repaired key is appended again; the store's last row of a key wins.
    return project.store.add([r.content_hash for r in kept], vectors, replace=replace)


def log_project_check(project: Project) -> CheckReport:
    """The cheap check, logged: what the server runs at start (a warning when vectors are missing)."""
    report = check_project(project, cheap=True)
    log = logging.getLogger("labelwise")
    if report.without_vector:
        log.warning("labelwise check: %s; run `labelwise check %s --repair`", report.summary, project.folder)
    else:
        log.info("labelwise check: %s", report.summary)
    return report
