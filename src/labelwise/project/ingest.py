"""Ingest a folder into a project: record every file, embed only new content, never stop on bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labelwise.embed.backbone import Backbone
from labelwise.embed.batches import embed_into_store
from labelwise.embed.store import EmbeddingStore
from labelwise.errors import LabelwiseError
from labelwise.ingest.objstore import is_uri, normalize_uri, scan_objects
from labelwise.ingest.pipeline import ReadFile, read_files
from labelwise.ingest.scan import FoundFile, scan_images
from labelwise.project.lock import project_writer
from labelwise.project.multilabel_labels import set_text_of
from labelwise.project.near_duplicates import update_near_duplicates
from labelwise.project.project import Project
from labelwise.store.models import (
    STATUS_BROKEN,
    STATUS_DUPLICATE,
    STATUS_MISSING,
    STATUS_OK,
    Annotation,
    Image,
    LabelClass,
    Lease,
)

BATCH = 64

# How the files to read become ``ReadFile`` results, in input order: in threads of this process
# (``read_locally``) or on a Ray cluster (``labelwise.project.ray_ingest``). Everything else, the
# scan, the duplicates, the store and the database, is the driver's and the same for both.
Reader = Callable[[list[FoundFile], Backbone, EmbeddingStore, int], Iterator[ReadFile]]


def read_locally(
    todo: list[FoundFile], backbone: Backbone, store: EmbeddingStore, max_pixels: int
) -> Iterator[ReadFile]:
    """Decode in this process's threads; the driver embeds the pixels batch by batch."""
    return read_files(todo, backbone.prepare, backbone.input_size, store.__contains__, max_pixels=max_pixels)


@dataclass
class IngestReport:
    scanned: int = 0
    unchanged: int = 0
    ok: int = 0
    embedded: int = 0
    duplicates: int = 0
    broken: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # labeled files whose content changed

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
        if self.moved:
            parts.append(f"{len(self.moved)} moved (labels kept)")
        if self.missing:
            parts.append(f"{len(self.missing)} missing")
        if self.changed:
            parts.append(f"{len(self.changed)} labeled files changed (queued for review)")
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


def resolve_images_folder(project: Project, folder: str | Path | None) -> Path:
    """The folder to scan: the images root, or ``folder`` inside it (a relative path is taken
    from the images root, as the help says, and from the current folder only if not found there)."""
    if folder is None:
        return project.images_root
    folder = Path(folder)
    if not folder.is_absolute() and (project.images_root / folder).exists():
        folder = project.images_root / folder
    if not folder.exists():
        raise LabelwiseError(f"{folder}: images folder not found (looked inside {project.images_root} too)")
    if not folder.is_dir():
        raise LabelwiseError(f"{folder}: is a file, not a folder; --images takes a folder inside the images root")
    return folder


def ingest_folder(
    project: Project,
    folder: str | Path | None = None,
    *,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    reader: Reader = read_locally,
) -> IngestReport:
    """Scan ``folder`` (the images root by default) and bring the project up to date with it.

    Files whose size and modification time are unchanged are skipped without being read. New
    content is decoded and embedded in batches; each batch's vectors are stored before its rows
    are committed, so an ingest killed at any point resumes where it stopped. The folder is
    followed: a file no longer found is marked missing, a file found under a new path with the
    content of a missing one is that image moved (its labels stay), and a labeled file whose
    content changed loses its label to the history and waits in the queue for review.
    Runs under the project's write lock (waiting for another writer).

    reader: decodes (and may embed) the files to read; :func:`read_locally` by default, or
        :func:`labelwise.project.ray_ingest.ray_reader` to read and embed on a Ray cluster.
    """
    root = project.config.images_root
    if is_uri(root) or is_uri(folder):
        uri = resolve_images_uri(root, folder)
        prefix = uri + "/"  # the database keeps each object's full URI
        scanned: Iterable[FoundFile] = scan_objects(uri)
    else:
        folder = resolve_images_folder(project, folder)
        prefix = _relative_prefix(project, folder)
        scanned = scan_images(folder, boundary=project.images_root)
    with project_writer(project.folder):
        report = _ingest(project, scanned, prefix, on_total, on_progress, reader)
        update_near_duplicates(project)  # the whole pool: a new image may join an old group
        return report


def resolve_images_uri(root: str, folder: str | Path | None) -> str:
    """The URI to scan for a project whose images are on an object store: the root, a URI under it,
    or a folder relative to it."""
    if not is_uri(root):
        raise LabelwiseError(f"{folder}: the project's images are in the folder {root}, not on an object store")
    root = normalize_uri(root)
    if folder is None:
        return root
    uri = normalize_uri(str(folder) if is_uri(folder) else f"{root}/{Path(folder).as_posix().strip('/')}")
    if uri != root and not uri.startswith(root + "/"):
        raise LabelwiseError(f"{folder}: not under the project's images URI {root}")
    return uri


def _ingest(
    project: Project,
    scanned: Iterable[FoundFile],
    prefix: str,
    on_total: Callable[[int], None] | None,
    on_progress: Callable[[int], None] | None,
    reader: Reader,
) -> IngestReport:
    report = IngestReport()
    with project.sessions() as session:
        known = {
            row.path: (row.size_bytes, row.mtime_ns, row.status)
            for row in session.execute(select(Image.path, Image.size_bytes, Image.mtime_ns, Image.status))
        }
        first_of_hash = dict(
            session.execute(
                select(Image.content_hash, Image.id).where(Image.status == STATUS_OK).order_by(Image.id.desc())
            ).all()
        )
    found_paths: set[str] = set()
    todo: list[FoundFile] = []
    for found in scanned:
        found = FoundFile(found.path, prefix + found.rel, found.size, found.mtime_ns, found.error)
        report.scanned += 1
        found_paths.add(found.rel)
        seen = known.get(found.rel)
        # A missing file found again is read again: it may not be the file that went missing.
        if found.error is None and seen and seen[:2] == (found.size, found.mtime_ns) and seen[2] != STATUS_MISSING:
            report.unchanged += 1
            continue
        todo.append(found)
    # Files of this folder known before and not found now: missing, unless found again under a new path.
    gone = [p for p, (_, _, status) in known.items() if p.startswith(prefix) and p not in found_paths
            and status != STATUS_MISSING]  # fmt: skip
    moved_from = _vanished_by_hash(project, gone)
    if on_total:
        on_total(len(todo))
    if on_progress and report.unchanged:
        on_progress(0)
    backbone, store = project.backbone, project.store
    batch: list[ReadFile] = []
    ready: list[ReadFile] = []  # known content, no embedding needed

    def flush() -> None:
        if batch:
            keys = [r.content_hash for r in batch]
            if all(r.embedding is not None for r in batch):  # embedded by the reader
                report.embedded += store.add(keys, np.stack([r.embedding for r in batch]))
            else:
                report.embedded += embed_into_store(backbone, store, keys, [r.pixels for r in batch])
        _record(project, batch + ready, first_of_hash, moved_from, report)
        if on_progress:
            on_progress(len(batch) + len(ready))
        batch.clear()
        ready.clear()

    # Pending content of this run: a byte-identical file later in the same batch is a duplicate.
    in_batch: set[str] = set()
    for result in reader(todo, backbone, store, project.config.max_pixels):
        if result.fresh and not getattr(backbone, "computes", True):
            # A project on the user's own vectors: a picture without one is refused, not embedded.
            result.pixels, result.embedding, result.reason = None, None, backbone.no_vector_reason
        if result.fresh and result.content_hash not in in_batch:
            batch.append(result)
            in_batch.add(result.content_hash)
        else:
            if result.fresh:
                result.pixels = result.embedding = None  # duplicate of an image waiting in this batch
            ready.append(result)
        if len(batch) >= BATCH or len(ready) >= 4 * BATCH:
            flush()
            in_batch.clear()
    flush()
    _mark_missing(project, [p for p in gone if p not in {old for old, _ in report.moved}], report)
    _resolve_duplicates(project)
    return report


def _vanished_by_hash(project: Project, gone: list[str]) -> dict[str, list[int]]:
    """content hash -> ids of the ok images among ``gone``: candidates for a move."""
    by_hash: dict[str, list[int]] = {}
    with project.sessions() as session:
        for start in range(0, len(gone), 500):
            rows = session.execute(
                select(Image.id, Image.content_hash).where(
                    Image.path.in_(gone[start : start + 500]), Image.status == STATUS_OK
                )
            )
            for image_id, digest in rows:
                by_hash.setdefault(digest, []).append(image_id)
    return by_hash


def _mark_missing(project: Project, gone: list[str], report: IngestReport) -> None:
    """Files not found any more: recorded ones become missing; a broken file's record just goes."""
    if not gone:
        return
    with project.sessions.begin() as session:
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            session.execute(delete(Image).where(Image.path.in_(chunk), Image.status == STATUS_BROKEN))
            for row in session.scalars(select(Image).where(Image.path.in_(chunk))):
                row.status, row.reason = STATUS_MISSING, "file not found by the last `labelwise add`"
                report.missing.append(row.path)


def _resolve_duplicates(project: Project) -> None:
    """A duplicate whose original went missing or changed points to another ok image of the same
    content, or becomes the ok image itself."""
    with project.sessions.begin() as session:
        original = Image.__table__.alias("original")
        stale = session.scalars(
            select(Image)
            .join(original, original.c.id == Image.duplicate_of)
            .where(
                Image.status == STATUS_DUPLICATE,
                (original.c.status != STATUS_OK) | (original.c.content_hash != Image.content_hash),
            )
            .order_by(Image.id)
        ).all()
        for row in stale:
            ok_id = session.scalar(
                select(Image.id).where(Image.status == STATUS_OK, Image.content_hash == row.content_hash).limit(1)
            )
            if ok_id is None:
                row.status, row.duplicate_of = STATUS_OK, None
            else:
                row.duplicate_of = ok_id
            session.flush()


def _review_changed(session: Session, row: Image, report: IngestReport) -> None:
    """A labeled file whose content changed: its label no longer describes it. The label goes to
    the history (kept for audit), the image is flagged and returns to the queue for review."""
    # Outer join: a multi-label annotation has no single class (class_id NULL), its set is elsewhere.
    label = session.execute(
        select(Annotation, LabelClass.name)
        .outerjoin(LabelClass, LabelClass.id == Annotation.class_id)
        .where(Annotation.image_id == row.id, Annotation.superseded.is_(False))
    ).first()
    if label is None:
        return
    annotation, name = label
    if annotation.class_id is None:
        name = set_text_of(session, annotation.id)
    annotation.superseded = True
    session.execute(delete(Lease).where(Lease.image_id == row.id))  # the done lease would block the queue
    row.review_reason = f"content changed after it was labeled {name!r} by {annotation.annotator}"
    report.changed.append(row.path)


def _record(
    project: Project,
    results: list[ReadFile],
    first_of_hash: dict[str, int],
    moved_from: dict[str, list[int]],
    report: IngestReport,
) -> None:
    """Write the rows of one batch in one transaction (after its vectors are stored)."""
    if not results:
        return
    with project.sessions.begin() as session:
        existing = {
            row.path: row
            for row in session.scalars(select(Image).where(Image.path.in_([r.found.rel for r in results])))
        }
        for r in sorted(results, key=lambda r: r.found.rel):
            row = existing.get(r.found.rel)
            if row is None and not r.broken and moved_from.get(r.content_hash):
                # The content of a file that vanished, under a new path: the same image, moved.
                row = session.get(Image, moved_from[r.content_hash].pop(0))
                report.moved.append((row.path, r.found.rel))
                row.path = r.found.rel
                session.flush()
            elif row is None:
                row = Image(path=r.found.rel)
            elif row.status == STATUS_OK and row.content_hash and r.content_hash != row.content_hash:
                _review_changed(session, row, report)
                _drop_thumbnail(project, row.id)
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


def _drop_thumbnail(project: Project, image_id: int) -> None:
    """The server's cached thumbnail shows the old content."""
    (project.folder / "thumbs" / f"{image_id}.jpg").unlink(missing_ok=True)
