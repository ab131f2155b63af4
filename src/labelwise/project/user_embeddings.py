"""Store the user's vectors (``init --embeddings FILE``) by content, as a backbone's would be.

The project's embedding store is keyed by the hash of each file's bytes, so the listed files are
hashed here and their vectors stored under those hashes; the ingest that follows finds them embedded
already and refuses, with a reason, an image that has no vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labelwise.embed.user_vectors import USER_BACKBONE, UserEmbeddings, read_user_embeddings
from labelwise.errors import LabelwiseError
from labelwise.ingest.pipeline import content_hash
from labelwise.project.labels import normalize_path
from labelwise.project.project import Project

__all__ = [
    "USER_BACKBONE",
    "EmbeddingsImport",
    "embeddings_file_setting",
    "read_user_embeddings",
    "store_user_embeddings",
]


@dataclass
class EmbeddingsImport:
    stored: int = 0
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
    if keys:
        project.store.add(keys, embeddings.vectors[rows])
    report.stored = len(keys)
    return report


def embeddings_file_setting(file: Path, dim: int) -> dict:
    """What the project's config keeps of the file: its dimension (the store's) and where it was."""
    return {"embedding_dim": dim, "embeddings_file": str(Path(file).resolve())}
