"""Labels: give, import and export them. Every refusal names the file, line or field at fault."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.ingest.objstore import is_uri
from labelwise.project.annotations import new_current_annotation
from labelwise.project.class_lookup import class_named
from labelwise.project.multilabel_labels import add_label_set, current_label_sets, resolve_label_set, split_names
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
    """A user's path (relative to the images root, or absolute inside it) as the stored relative path.

    On an object store the stored path is the object's URI: a path relative to the images URI is
    percent-encoded under it, a URI is kept."""
    uri = project.images_uri
    if uri is not None:
        if is_uri(path):
            return path
        return f"{uri}/{quote(PurePosixPath(path.replace(chr(92), '/')).as_posix())}"
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.resolve().relative_to(project.images_root.resolve()).as_posix()
        except ValueError:
            raise LabelwiseError(f"image {path!r}: outside the images folder {project.images_root}") from None
    return PurePosixPath(path.replace("\\", "/")).as_posix()


def _class_by_name(session: Session, name: str) -> LabelClass:
    return class_named(session, name, field="class")


def add_annotation(session: Session, image: Image, cls: LabelClass, **who) -> Annotation:
    """Label ``image`` as ``cls`` (``who``: see :func:`new_current_annotation`)."""
    return new_current_annotation(session, image, cls.id, **who)


def label_image(project: Project, path: str, class_name: str, *, annotator: str = "cli") -> None:
    with project.sessions.begin() as session:
        add_annotation(session, _image_by_path(session, project, path), _class_by_name(session, class_name),
                       annotator=annotator, source="cli")  # fmt: skip


PATH_COLUMNS = ("path", "image", "file")
LABEL_COLUMNS = ("label", "class")


def _columns(header: list[str], csv_path: Path) -> tuple[int, int] | None:
    """Where the path and the label are, by header name; ``None`` when the first row is data
    (a headerless file is read as path,label)."""
    names = [c.strip().lower() for c in header]
    path_at = [i for i, n in enumerate(names) if n in PATH_COLUMNS]
    label_at = [i for i, n in enumerate(names) if n in LABEL_COLUMNS]
    if not path_at and not label_at:
        return None
    if len(path_at) != 1 or len(label_at) != 1:
        raise LabelwiseError(
            f"{csv_path}:1: header {header!r}: expected one path column ({'/'.join(PATH_COLUMNS)}) "
            f"and one label column ({'/'.join(LABEL_COLUMNS)})"
        )
    unknown = [h for i, h in enumerate(header) if i not in (path_at[0], label_at[0])]
    if unknown:
        raise LabelwiseError(f"{csv_path}:1: header: unknown column {unknown[0]!r}; only a path and a label column")
    return path_at[0], label_at[0]


def import_labels_csv(project: Project, csv_path: str | Path, *, add_classes: bool = False) -> LabelImport:
    """Import path,label rows. A header row names the columns (``path``/``image``/``file`` and
    ``label``/``class``, any order); without one the columns are path,label. Valid rows are imported;
    each bad row (wrong column count, unknown image or class, a path given again with another label)
    is refused with its line number. A path given twice with two labels imports neither: no row wins."""
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelwiseError(f"{csv_path}: cannot read labels: {exc}") from None
    numbered = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1) if any(c.strip() for c in row)]
    columns = _columns(numbered[0][1], csv_path) if numbered else None
    path_at, label_at = columns or (0, 1)
    width = len(numbered[0][1]) if columns else 2
    report = LabelImport()
    rows: list[tuple[int, str, str]] = []
    for number, row in numbered[1 if columns else 0 :]:
        if len(row) != width:
            what = "an extra column" if len(row) > width else "a missing column"
            report.errors.append(f"{csv_path}:{number}: {what}: expected {width} columns (path,label); got {row!r}")
            continue
        rows.append((number, row[path_at].strip(), row[label_at].strip()))
    # The same image twice with two labels: refuse every such row, naming a line that disagrees.
    keyed = [(number, _path_key(project, path), path, name) for number, path, name in rows]
    seen: dict[str, list[tuple[int, str]]] = {}
    for number, key, _, name in keyed:
        seen.setdefault(key, []).append((number, name))
    if add_classes:
        names = {name for _, key, _, name in keyed if name and len({n for _, n in seen[key]}) == 1}
        if project.multi_label:  # a cell names a set: "cat;dog"
            names = {part for name in names if _splits(name) for part in split_names(name)}
        project.add_classes(sorted(names))
    done: set[str] = set()
    with project.sessions.begin() as session:
        for number, key, path, name in keyed:
            other = next(((line, n) for line, n in seen[key] if n != name), None)
            if other is not None:
                report.errors.append(
                    f"{csv_path}:{number}: image {path!r}: labeled {name!r} here and {other[1]!r} at line {other[0]}"
                )
                continue
            if key in done:
                continue  # the same row again: imported once
            try:
                image = _image_by_path(session, project, path)
                if project.multi_label:  # the label cell is a set: "cat;dog", empty for none of the classes
                    add_label_set(session, image, resolve_label_set(session, split_names(name)),
                                  annotator="import", source="csv")  # fmt: skip
                else:
                    add_annotation(session, image, _class_by_name(session, name), annotator="import", source="csv")
            except LabelwiseError as exc:
                report.errors.append(f"{csv_path}:{number}: {exc}")
                continue
            done.add(key)
            report.imported += 1
    return report


def _splits(cell: str) -> bool:
    """Whether a set cell splits cleanly; a bad one (``"cat;"``) is reported with its line later."""
    try:
        split_names(cell)
    except LabelwiseError:
        return False
    return True


def _path_key(project: Project, path: str) -> str:
    """The stored path a row names, so ``a/x.png`` and its absolute spelling are one image."""
    try:
        return normalize_path(project, path)
    except LabelwiseError:
        return path


def labels_from_folders(project: Project) -> LabelImport:
    """ImageFolder layout: the first sub-folder of each image's path is its class."""
    report = LabelImport()
    with project.sessions() as session:
        images = session.execute(select(Image.id, Image.path).where(Image.status == STATUS_OK)).all()
    if project.images_uri is not None:  # object URIs: the folder is the first part under the images URI
        prefix = project.images_uri + "/"
        images = [(image_id, unquote(path.removeprefix(prefix))) for image_id, path in images]
    rels = images
    named = [(image_id, rel.split("/", 1)[0]) for image_id, rel in rels if "/" in rel]
    project.add_classes(sorted({name for _, name in named}))
    with project.sessions.begin() as session:
        classes = {c.name: c for c in session.scalars(select(LabelClass))}
        labeled = current_labels(session)
        sets = current_label_sets(session) if project.multi_label else {}
        by_position = {c.position: c for c in classes.values()}
        for image_id, name in named:
            folder_class = classes[name]
            if labeled.get(image_id) == folder_class.position or folder_class.position in sets.get(image_id, []):
                continue
            image = session.get(Image, image_id)
            if project.multi_label:
                # The folder says the image shows this class, not that it shows only this one: it is
                # added to the set the image has (never shrinking what a person gave), or a set of one.
                kept = [by_position[p] for p in sets.get(image_id, [])]
                add_label_set(session, image, [*kept, folder_class], annotator="import", source="folders")
            else:
                add_annotation(session, image, classes[name], annotator="import", source="folders")
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
