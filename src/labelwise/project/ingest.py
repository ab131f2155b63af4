"""Ingest a folder into a project: record every file, embed only new content, never stop on bad input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from labelwise.embed.batches import embed_into_store
from labelwise.errors import LabelwiseError
from labelwise.ingest.pipeline import ReadFile, read_files
from labelwise.ingest.scan import FoundFile, scan_images
from labelwise.project.lock import project_writer
from labelwise.project.project import Project
from labelwise.store.models import STATUS_BROKEN, STATUS_DUPLICATE, STATUS_OK, Image

BATCH = 64


@dataclass
class IngestReport:
    scanned: int = 0
    unchanged: int = 0
    ok: int = 0
    embedded: int = 0
    duplicates: int = 0
    broken: list[tuple[str, str]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        parts = [
            f"{self.scanned} files found",
            f"{self.unchanged} unchanged",
            f"{self.ok} new or changed ok",
            f"{self.embedded} embedded",
            f"{self.duplicates} duplicates",
            f"{len(self.broken)} broken",
        ]
        text = ", ".join(parts)
        if self.scanned and self.embedded == 0:
            text += " (nothing new to embed)"
        return text


def _relative_prefix(project: Project, folder: Path) -> str:
    root = project.images_root.resolve()
    try:
        rel = folder.resolve().relative_to(root)
    except ValueError:
        raise LabelwiseError(f"{folder}: not inside the project's images folder {root}") from None
    return "" if rel.as_posix() == "." else rel.as_posix() + "/"


def ingest_folder(
    project: Project,
    folder: str | Path | None = None,
    *,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Scan ``folder`` (the images root by default) and bring the project up to date with it.

    Files whose size and modification time are unchanged are skipped without being read. New
    content is decoded and embedded in batches; each batch's vectors are stored before its rows
    are committed, so an ingest killed at any point resumes where it stopped.
    Runs under the project's write lock (waiting for another writer).
    """
    folder = Path(folder) if folder is not None else project.images_root
    if not folder.is_dir():
        raise LabelwiseError(f"{folder}: images folder not found")
    prefix = _relative_prefix(project, folder)
    with project_writer(project.folder):
        return _ingest(project, folder, prefix, on_total, on_progress)


def _ingest(
    project: Project,
    folder: Path,
    prefix: str,
    on_total: Callable[[int], None] | None,
    on_progress: Callable[[int], None] | None,
) -> IngestReport:
    report = IngestReport()
    with project.sessions() as session:
        known = {
            row.path: (row.size_bytes, row.mtime_ns)
            for row in session.execute(select(Image.path, Image.size_bytes, Image.mtime_ns))
        }
        first_of_hash = dict(
            session.execute(
                select(Image.content_hash, Image.id).where(Image.status == STATUS_OK).order_by(Image.id.desc())
            ).all()
        )
    todo: list[FoundFile] = []
    for found in scan_images(folder):
        found = FoundFile(found.path, prefix + found.rel, found.size, found.mtime_ns, found.error)
        report.scanned += 1
        if found.error is None and known.get(found.rel) == (found.size, found.mtime_ns):
            report.unchanged += 1
            continue
        todo.append(found)
    if on_total:
        on_total(len(todo))
    if on_progress and report.unchanged:
        on_progress(0)
    backbone, store = project.backbone, project.store
    batch: list[ReadFile] = []
    ready: list[ReadFile] = []  # known content, no embedding needed

    def flush() -> None:
        if batch:
            keys, pixels = [r.content_hash for r in batch], [r.pixels for r in batch]
            report.embedded += embed_into_store(backbone, store, keys, pixels)
        _record(project, batch + ready, first_of_hash, report)
        if on_progress:
            on_progress(len(batch) + len(ready))
        batch.clear()
        ready.clear()

    # Pending content of this run: a byte-identical file later in the same batch is a duplicate.
    in_batch: set[str] = set()
    for result in read_files(todo, backbone.prepare, backbone.input_size, store.__contains__,
                             max_pixels=project.config.max_pixels):  # fmt: skip
        if result.pixels is not None and result.content_hash not in in_batch:
            batch.append(result)
            in_batch.add(result.content_hash)
        else:
            if result.pixels is not None:
                result.pixels = None  # duplicate of an image waiting in this batch
            ready.append(result)
        if len(batch) >= BATCH or len(ready) >= 4 * BATCH:
            flush()
            in_batch.clear()
    flush()
    return report


def _record(project: Project, results: list[ReadFile], first_of_hash: dict[str, int], report: IngestReport) -> None:
    """Write the rows of one batch in one transaction (after its vectors are stored)."""
    if not results:
        return
    with project.sessions.begin() as session:
        existing = {
            row.path: row
            for row in session.scalars(select(Image).where(Image.path.in_([r.found.rel for r in results])))
        }
        for r in sorted(results, key=lambda r: r.found.rel):
            row = existing.get(r.found.rel) or Image(path=r.found.rel)
            row.size_bytes, row.mtime_ns = r.found.size, r.found.mtime_ns
            row.content_hash, row.width, row.height = r.content_hash, r.width, r.height
            row.duplicate_of, row.reason = None, None
            if r.broken:
                row.status, row.reason = STATUS_BROKEN, r.reason
                report.broken.append((r.found.rel, r.reason))
            elif r.content_hash in first_of_hash and first_of_hash[r.content_hash] != row.id:
                row.status, row.duplicate_of = STATUS_DUPLICATE, first_of_hash[r.content_hash]
                report.duplicates += 1
            else:
                row.status = STATUS_OK
                report.ok += 1
            session.add(row)
            if row.status == STATUS_OK:
                session.flush()  # assigns the id that later duplicates point to
                first_of_hash[r.content_hash] = row.id
