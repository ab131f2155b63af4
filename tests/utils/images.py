"""Small real data on disk: photos, a folder of every kind of broken file, Fashion-MNIST folders."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays


def photo(seed: int, size=(96, 72)) -> Image.Image:
    """A small colourful picture with structure (gradients and a disc), different per seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.15, 0.4) * min(w, h)
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < r**2
    base = rng.uniform(0, 255, 3)
    img = np.stack([(xx * 255 / w), (yy * 255 / h), np.full_like(xx, base[2], dtype=float)], axis=-1)
    img[disc] = rng.uniform(0, 255, 3)
    return Image.fromarray(img.astype(np.uint8))


def png_bomb(width: int, height: int) -> bytes:
    """A real PNG whose header declares ``width`` x ``height`` grey pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows; the header is what matters
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def write_bad_input_folder(root: Path) -> dict[str, str | None]:
    """Every kind of bad (and tricky but good) input, for real. Returns path -> expected reason
    fragment (``None`` for files that must ingest fine)."""
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str | None] = {}

    def save(rel: str, image: Image.Image, reason: str | None = None, **kw) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, **kw)
        expected[rel] = reason

    def raw(rel: str, data: bytes, reason: str | None) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[rel] = reason

    save("good/photo.png", photo(1))
    save("good/photo.jpg", photo(2), quality=92)
    save("good/photo.webp", photo(3))
    save("good/photo.bmp", photo(4))
    save("good/photo.tiff", photo(5))
    save("good/tiny-1x1.png", Image.new("RGB", (1, 1), (200, 10, 10)))
    save("modes/cmyk.jpg", photo(6).convert("CMYK"))
    save("modes/grey16.png", Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)))
    palette = photo(7).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    save("modes/palette-transparent.png", palette, transparency=0)
    rgba = photo(8).convert("RGBA")
    rgba.putalpha(128)
    save("modes/alpha.png", rgba)
    frames = [photo(9), photo(10)]
    path = root / "modes/animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    expected["modes/animated.gif"] = None
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    save("modes/exif-rotated.jpg", photo(11, size=(120, 60)), exif=exif.tobytes())
    save("unicode/café_日本語_🙂.png", photo(12))
    good_png = io.BytesIO()
    photo(13).save(good_png, format="PNG")
    raw("bad/truncated.png", good_png.getvalue()[: len(good_png.getvalue()) // 2], "cannot decode")
    raw("bad/zero-bytes.png", b"", "empty file")
    raw("bad/text-as-image.jpg", b"this is not a picture\n" * 10, "not an image")
    raw("bad/corrupt.jpg", np.random.default_rng(0).bytes(4096), "not an image")
    raw("bad/bomb-20000x20000.png", png_bomb(20_000, 20_000), "too many pixels")
    raw("duplicates/copy-of-photo.png", (root / "good/photo.png").read_bytes(), None)
    (root / "notes.txt").write_text("not scanned: wrong extension")
    (root / "good" / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop
    return expected


def write_fashion_folder(root: Path, per_class: int, offset: int = 0) -> Path:
    """Real Fashion-MNIST pictures as PNG files in an ImageFolder layout (sub-folder = class)."""
    train_x, train_y, _, _ = fashion_mnist_arrays()
    counts = dict.fromkeys(range(10), 0)
    for i in range(offset, len(train_x)):
        label = int(train_y[i])
        if counts[label] >= per_class:
            continue
        folder = root / FASHION_MNIST_CLASSES[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(train_x[i]).save(folder / f"{i:05d}.png")
        counts[label] += 1
        if all(c >= per_class for c in counts.values()):
            break
    return root


def write_class_folders(root: Path, folders: tuple[str, ...], per_folder: int, offset: int = 0) -> Path:
    """Real Fashion-MNIST pictures, one folder per class, files named 0000.png, 0001.png, ..."""
    train_x, train_y, _, _ = fashion_mnist_arrays()
    for c, name in enumerate(folders):
        (root / name).mkdir(parents=True, exist_ok=True)
        for j, i in enumerate(np.flatnonzero(train_y == c)[offset : offset + per_folder]):
            Image.fromarray(train_x[i]).save(root / name / f"{j:04d}.png")
    return root
