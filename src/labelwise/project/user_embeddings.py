"""Store the user's vectors (``init --embeddings FILE``, ``add --embeddings FILE``) by content, as a
backbone's would be.

The project's embedding store is keyed by the hash of each file's bytes, so the listed files are
hashed here and their vectors stored under those hashes; the ingest that follows finds them embedded
already and refuses, with a reason, an image that has no vector. ``add`` brings such an image back
once a later file gives its vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update

from labelwise.embed.user_vectors import USER_BACKBONE, UserEmbeddings, UserVectors, read_user_embeddings
from labelwise.errors import LabelwiseError
from labelwise.ingest.pipeline import content_hash
from labelwise.project.labels import normalize_path
from labelwise.project.project import Project
from labelwise.store.models import STATUS_BROKEN, Image

__all__ = [
    "USER_BACKBONE",
    "EmbeddingsImport",
    "add_user_embeddings",
    "embeddings_file_setting",
    "read_user_embeddings",
    "store_user_embeddings",
]


@dataclass
class EmbeddingsImport:
    stored: int = 0
    kept: int = 0  # images that had a vector in the project already: the project's stays
    errors: list[str] = field(default_factory=list)  # refused rows, "FILE: row N: reason"
    not_found: list[str] = field(default_factory=list)  # paths of the file with no image under the root


def store_user_embeddings(project: Project, embeddings: UserEmbeddings) -> EmbeddingsImport:
    report = EmbeddingsImport(errors=list(embeddings.errors))
    root = project.images_root
    keys, rows = [], []
    for row, path in enumerate(embeddings.paths):
        try:
            rel = normalize_path(project, path)
            data = (root / rel).read_bytes()
        except (LabelwiseError, OSError):
            report.not_found.append(path)
            continue
        keys.append(content_hash(data))
        rows.append(row)
    added = project.store.add(keys, embeddings.vectors[rows]) if keys else 0
    report.stored, report.kept = added, len(keys) - added
    return report


def add_user_embeddings(project: Project, embeddings: UserEmbeddings, file: Path) -> EmbeddingsImport:
    """More of the user's vectors for a project built on them (``add --embeddings``): the same row
    checks as ``init``, and the file must have the project's dimension. An image recorded broken for
    want of a vector that now has one is read again by the next ingest (it was skipped as unchanged).
    A vector for an image that has one already is not replaced: models were trained and labels
    chosen on the old one (counted in ``kept``)."""
    if project.config.backbone != USER_BACKBONE:
        raise LabelwiseError(f"--embeddings: this project embeds its images with the {project.config.backbone} "
                             "backbone; only a project made with `init --embeddings` takes your vectors")  # fmt: skip
    dim = embeddings.vectors.shape[1]
    if dim != project.embedding_dim:
        raise LabelwiseError(f"--embeddings: {file}: vectors of {dim} values; this project's have "
                             f"{project.embedding_dim} (those of its init file)")  # fmt: skip
    report = store_user_embeddings(project, embeddings)
    with project.sessions() as session:
        waiting = session.execute(
            select(Image.id, Image.content_hash).where(
                Image.status == STATUS_BROKEN, Image.reason == UserVectors.no_vector_reason
            )
        ).all()
    now_known = [image_id for image_id, digest in waiting if digest and digest in project.store]
    for start in range(0, len(now_known), 500):
        with project.sessions.begin() as session:
            # No size/time on record: the ingest sees a changed file and reads it again.
            session.execute(update(Image).where(Image.id.in_(now_known[start : start + 500])).values(mtime_ns=None))
    return report


def embeddings_file_setting(file: Path, dim: int) -> dict:
    """What the project's config keeps of the file: its dimension (the store's) and where it was."""
    return {"embedding_dim": dim, "embeddings_file": str(Path(file).resolve())}
