"""An image's file and its thumbnail, found only through the project's own records."""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from labelwise.errors import LabelwiseError, NotFoundError
from labelwise.ingest.decode import BrokenImageError, decode_image
from labelwise.ingest.objstore import ObjectPath, is_uri
from labelwise.paths import atomic_write
from labelwise.project.project import Project
from labelwise.store.models import Image

THUMB_SIZE = 256


def image_file(project: Project, image_id: int) -> Path | ObjectPath:
    """The file of image ``image_id``; a path the database does not know is never opened.

    On an object store, the object of that URI (read through the file system of the URI)."""
    with project.sessions() as session:
        image = session.get(Image, image_id)
    if image is None:
        raise NotFoundError(f"image {image_id}: not found")
    if is_uri(image.path):
        uri = project.images_uri
        if uri is None or not image.path.startswith(uri + "/"):
            raise NotFoundError(f"image {image_id}: {image.path} is outside the images URI")
        return ObjectPath(image.path)
    root = project.images_root.resolve()
    path = (root / image.path).resolve()
    if not path.is_relative_to(root):  # a symlink pointing out of the images folder
        raise NotFoundError(f"image {image_id}: file is outside the images folder")
    if not path.is_file():
        raise NotFoundError(f"image {image_id}: file {image.path} is missing")
    return path


def image_bytes(project: Project, image_id: int) -> bytes:
    """The content of image ``image_id``'s file or object (see :func:`image_file`)."""
    path = image_file(project, image_id)
    try:
        return path.read_bytes()
    except OSError as exc:  # an object deleted since the ingest, a store that does not answer
        raise NotFoundError(f"image {image_id}: cannot read {path}: {exc}") from None


def thumbnail(project: Project, image_id: int) -> Path:
    """A JPEG of at most ``THUMB_SIZE`` pixels a side, made once and cached in the project folder."""
    cached = project.folder / "thumbs" / f"{image_id}.jpg"
    if not cached.exists():
        data = image_bytes(project, image_id)
        try:
            picture = decode_image(data, project.config.max_pixels, draft_size=THUMB_SIZE)
        except BrokenImageError as exc:
            raise LabelwiseError(f"image {image_id}: {exc.reason}") from None
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE), PILImage.Resampling.LANCZOS)
        # Concurrent first requests for one thumbnail each write their own temporary file.
        atomic_write(cached, lambda file: picture.save(file, "JPEG", quality=85))
    return cached
