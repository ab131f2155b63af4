"""Decode and validate one image: whatever the file, a clean RGB picture or a stated reason."""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from labelwise.errors import LabelwiseError

DEFAULT_MAX_PIXELS = 100_000_000  # 10,000 x 10,000; a decompression-bomb guard, configurable


class BrokenImageError(LabelwiseError):
    """The file is not a usable image; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open without decoding and check the header: format known, size plausible and under the limit."""
    if not data:
        raise BrokenImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Our own limit (below) decides; Pillow still refuses beyond twice its default.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BrokenImageError("not an image (unknown or corrupt format)") from None
    except Image.DecompressionBombError as exc:
        # Pillow refuses past twice its own limit before we see the size; say it in our terms.
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)):,} pixels" if declared else "the declared size"
        if declared is None or int(declared.group(1)) > max_pixels:
            raise BrokenImageError(
                f"too many pixels: {size} exceeds the limit of {max_pixels:,} (--max-pixels)"
            ) from None
        raise BrokenImageError(
            f"too many pixels: {size} exceeds Pillow's own limit, which --max-pixels cannot raise"
        ) from None
    except Exception as exc:  # Pillow raises many types on malformed headers
        raise BrokenImageError(f"unreadable header: {exc}") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise BrokenImageError(f"invalid size {width}x{height}")
    if width * height > max_pixels:
        raise BrokenImageError(f"too many pixels: {width}x{height} exceeds the limit of {max_pixels:,} (--max-pixels)")
    return image


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: int | None = None) -> Image.Image:
    """The image as RGB, EXIF orientation applied, first frame of animations, alpha over white.

    ``draft_size`` lets JPEG decode at a reduced scale when the result will be resized anyway.
    """
    image = open_image(data, max_pixels)
    try:
        if draft_size and image.format == "JPEG":
            image.draft("RGB", (draft_size, draft_size))
        image.seek(0)
        image.load()  # the real decode: truncated or corrupt data fails here
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except BrokenImageError:
        raise
    except Exception as exc:
        raise BrokenImageError(f"cannot decode: {exc}") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode (palette, CMYK, 16-bit, grey, alpha) to 8-bit RGB; transparency becomes white."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale to 8 bits by the actual range rather than clipping at 255.
        low, high = image.getextrema()
        scale = 255.0 / max(high - low, 1)
        image = image.point(lambda v: (v - low) * scale).convert("L")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
