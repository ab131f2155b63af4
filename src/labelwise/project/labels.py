"""Labels: give, import and export them. Every refusal names the file, line or field at fault."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.project.project import Project
from labelwise.store.models import STATUS_OK, Annotation, Image, LabelClass


@dataclass
class LabelImport:
    imported: int = 0
    errors: list[str] = field(default_factory=list)


def _image_by_path(session: Session, project: Project, path: str) -> Image:
    rel = normalize_path(project, path)
    image = session.scalar(select(Image).where(Image.path == rel))
    if image is None:
        raise LabelwiseError(f"image {path!r}: not in the project (paths are relative to {project.images_root})")
    if image.status != STATUS_OK:
        detail = image.reason or ""
        if image.duplicate_of:
            original = session.get(Image, image.duplicate_of)
            detail = f"a byte-identical copy of {original.path if original else image.duplicate_of}; label that one"
        raise LabelwiseError(f"image {path!r}: is {image.status} ({detail}) and cannot be labeled")
    return image


def normalize_path(project: Project, path: str) -> str:
    """A user's path (relative to the images root, or absolute inside it) as the stored relative path."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.resolve().relative_to(project.images_root.resolve()).as_posix()
        except ValueError:
            raise LabelwiseError(f"image {path!r}: outside the images folder {project.images_root}") from None
    return PurePosixPath(path.replace("\\", "/")).as_posix()


def _class_by_name(session: Session, name: str) -> LabelClass:
    cls = session.scalar(select(LabelClass).where(LabelClass.name == name))
    if cls is None:
        known = ", ".join(session.scalars(select(LabelClass.name).order_by(LabelClass.position))) or "none yet"
        raise LabelwiseError(f"class {name!r}: unknown; the project's classes are: {known}")
    return cls


def add_annotation(
    session: Session,
    image: Image,
    cls: LabelClass,
    *,
    annotator: str,
    source: str,
    user_id: int | None = None,
    model_version: int | None = None,
    strategy: str | None = None,
    score: float | None = None,
) -> Annotation:
    """Label ``image`` as ``cls``; an earlier label of the image is superseded, not deleted."""
    session.execute(
        update(Annotation)
        .where(Annotation.image_id == image.id, Annotation.superseded.is_(False))
        .values(superseded=True)
    )
    annotation = Annotation(
        image_id=image.id, class_id=cls.id, annotator=annotator, source=source, user_id=user_id,
        model_version=model_version, strategy=strategy, score=score,
    )  # fmt: skip
    session.add(annotation)
    image.review_reason = None  # a changed file waiting for review has been looked at
    return annotation


def label_image(project: Project, path: str, class_name: str, *, annotator: str = "cli") -> None:
    with project.sessions.begin() as session:
        add_annotation(session, _image_by_path(session, project, path), _class_by_name(session, class_name),
                       annotator=annotator, source="cli")  # fmt: skip


def import_labels_csv(project: Project, csv_path: str | Path, *, add_classes: bool = False) -> LabelImport:
    """Import ``path,label`` rows (a header row is optional). Valid rows are imported; each bad row
    is reported with its line number and reason."""
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelwiseError(f"{csv_path}: cannot read labels: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    start = 1 if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"] else 0
    report = LabelImport()
    if add_classes:
        project.add_classes(sorted({r[1].strip() for r in rows[start:] if len(r) >= 2 and r[1].strip()}))
    with project.sessions.begin() as session:
        for number, row in enumerate(rows[start:], start=start + 1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < 2:
                report.errors.append(f"{csv_path}:{number}: expected two columns path,label; got {row!r}")
                continue
            try:
                image = _image_by_path(session, project, row[0].strip())
                cls = _class_by_name(session, row[1].strip())
            except LabelwiseError as exc:
                report.errors.append(f"{csv_path}:{number}: {exc}")
                continue
            add_annotation(session, image, cls, annotator="import", source="csv")
            report.imported += 1
    return report


def labels_from_folders(project: Project) -> LabelImport:
    """ImageFolder layout: the first sub-folder of each image's path is its class."""
    report = LabelImport()
    with project.sessions() as session:
        images = session.execute(select(Image.id, Image.path).where(Image.status == STATUS_OK)).all()
    named = [(image_id, path.split("/", 1)[0]) for image_id, path in images if "/" in path]
    project.add_classes(sorted({name for _, name in named}))
    with project.sessions.begin() as session:
        classes = {c.name: c for c in session.scalars(select(LabelClass))}
        labeled = current_labels(session)
        for image_id, name in named:
            if labeled.get(image_id) == classes[name].position:
                continue
            add_annotation(session, session.get(Image, image_id), classes[name], annotator="import", source="folders")
            report.imported += 1
    return report


def current_labels(session: Session) -> dict[int, int]:
    """image id -> class position of its current (not superseded) label."""
    rows = session.execute(
        select(Annotation.image_id, LabelClass.position)
        .join(LabelClass, LabelClass.id == Annotation.class_id)
        .where(Annotation.superseded.is_(False))
    )
    return dict(rows.all())


PENDING_KEY = "pending_label_import"


def remember_label_import(project: Project, *, from_folders: bool, csv_path: Path | None, add_classes: bool) -> None:
    """Write down, before the long ingest, the labels ``init`` is to import: an ``init`` stopped
    half-way (Ctrl-C) leaves them to the next ``labelwise add`` instead of losing them."""
    if not from_folders and csv_path is None:
        return
    project.config.extra[PENDING_KEY] = {
        "from_folders": from_folders,
        "csv": "" if csv_path is None else str(Path(csv_path).resolve()),
        "add_classes": add_classes,
    }
    project.save_config()


def pending_label_import(project: Project) -> dict | None:
    return project.config.extra.get(PENDING_KEY)


def import_label_file(project: Project, path: Path, *, add_classes: bool) -> LabelImport:
    """A CSV of path,label rows, or a Label Studio JSON export (recognised by its content)."""
    from labelwise.project.label_studio_files import import_labels_label_studio, is_label_studio_json

    if is_label_studio_json(path):
        return import_labels_label_studio(project, path, add_classes=add_classes)
    return import_labels_csv(project, path, add_classes=add_classes)


def finish_label_import(project: Project) -> tuple[LabelImport | None, LabelImport | None]:
    """Import the labels remembered by ``remember_label_import``, then forget them; returns the
    folder import and the CSV import (``None`` for what was not asked)."""
    pending = pending_label_import(project)
    if not pending:
        return None, None
    from_folders = labels_from_folders(project) if pending.get("from_folders") else None
    from_csv = None
    if pending.get("csv"):
        from_csv = import_label_file(project, Path(pending["csv"]), add_classes=bool(pending.get("add_classes")))
    project.config.extra.pop(PENDING_KEY, None)
    project.save_config()
    return from_folders, from_csv
