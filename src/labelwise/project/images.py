"""An image's file and its thumbnail, found only through the project's own records."""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from labelwise.errors import LabelwiseError, NotFoundError
from labelwise.ingest.decode import BrokenImageError, decode_image
from labelwise.paths import atomic_write
from labelwise.project.project import Project
from labelwise.store.models import Image

THUMB_SIZE = 256


def image_file(project: Project, image_id: int) -> Path:
    """The file of image ``image_id``; a path the database does not know is never opened."""
    with project.sessions() as session:
        image = session.get(Image, image_id)
    if image is None:
        raise NotFoundError(f"image {image_id}: not found")
    root = project.images_root.resolve()
    path = (root / image.path).resolve()
    if not path.is_relative_to(root):  # a symlink pointing out of the images folder
        raise NotFoundError(f"image {image_id}: file is outside the images folder")
    if not path.is_file():
        raise NotFoundError(f"image {image_id}: file {image.path} is missing")
    return path


def thumbnail(project: Project, image_id: int) -> Path:
    """A JPEG of at most ``THUMB_SIZE`` pixels a side, made once and cached in the project folder."""
    cached = project.folder / "thumbs" / f"{image_id}.jpg"
    if not cached.exists():
        path = image_file(project, image_id)
        try:
            picture = decode_image(path.read_bytes(), project.config.max_pixels, draft_size=THUMB_SIZE)
        except BrokenImageError as exc:
            raise LabelwiseError(f"image {image_id}: {exc.reason}") from None
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE), PILImage.Resampling.LANCZOS)
        # Concurrent first requests for one thumbnail each write their own temporary file.
        atomic_write(cached, lambda file: picture.save(file, "JPEG", quality=85))
    return cached
