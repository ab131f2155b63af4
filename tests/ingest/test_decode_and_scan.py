from __future__ import annotations

import os

import pytest

from labelwise.ingest.decode import BrokenImageError, decode_image
from labelwise.ingest.pipeline import read_file
from labelwise.ingest.scan import FoundFile, scan_images


def test_scan_finds_images_once_despite_a_symlink_loop(bad_input_folder):
    root, expected = bad_input_folder
    found = [f.rel for f in scan_images(root)]
    assert sorted(found) == sorted(expected)  # notes.txt skipped, nothing seen twice
    assert found == sorted(found, key=lambda p: p.split("/"))  # stable order
    assert "unicode/café_日本語_🙂.png" in found


@pytest.mark.parametrize(
    "rel",
    ["bad/truncated.png", "bad/zero-bytes.png", "bad/text-as-image.jpg", "bad/corrupt.jpg", "bad/bomb-20000x20000.png"],
)
def test_each_broken_file_gets_its_reason(bad_input_folder, rel):
    root, expected = bad_input_folder
    with pytest.raises(BrokenImageError, match=expected[rel]):
        decode_image((root / rel).read_bytes())


def test_pixel_limit_is_configurable(bad_input_folder):
    root, _ = bad_input_folder
    data = (root / "good/photo.png").read_bytes()
    assert decode_image(data).size == (96, 72)
    with pytest.raises(BrokenImageError, match="exceeds the limit of 1,000"):
        decode_image(data, max_pixels=1000)


@pytest.mark.parametrize(
    "rel",
    ["modes/cmyk.jpg", "modes/grey16.png", "modes/palette-transparent.png", "modes/alpha.png", "modes/animated.gif",
     "good/photo.webp", "good/photo.bmp", "good/photo.tiff", "good/tiny-1x1.png"],
)  # fmt: skip
def test_every_mode_decodes_to_rgb(bad_input_folder, rel):
    root, _ = bad_input_folder
    image = decode_image((root / rel).read_bytes())
    assert image.mode == "RGB" and image.width >= 1


def test_sixteen_bit_grey_keeps_its_contrast(bad_input_folder):
    root, _ = bad_input_folder
    image = decode_image((root / "modes/grey16.png").read_bytes())
    low, high = image.convert("L").getextrema()
    assert low == 0 and high == 255  # scaled by range, not clipped to white


def test_alpha_is_composited_over_white(bad_input_folder):
    root, _ = bad_input_folder
    image = decode_image((root / "modes/alpha.png").read_bytes())
    # Half-transparent pixels are pulled halfway to white.
    assert min(image.getpixel((0, 0))) >= 120


def test_exif_orientation_is_applied(bad_input_folder):
    root, _ = bad_input_folder
    image = decode_image((root / "modes/exif-rotated.jpg").read_bytes())
    assert image.size == (60, 120)  # stored 120x60, displayed rotated


def test_read_file_reports_unreadable_files(tmp_path):
    target = tmp_path / "secret.png"
    target.write_bytes(b"\x89PNG")
    target.chmod(0)
    found = FoundFile(target, "secret.png", 4, 0)
    if os.geteuid() != 0:
        assert read_file(found, lambda i: i, 64, lambda h: False).reason == "cannot read: Permission denied"
        return
    # root reads anything: check in a forked child that has dropped to an unprivileged user.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            reason = read_file(found, lambda i: i, 64, lambda h: False).reason or "read fine"
            os.write(write_end, reason.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as f:
        assert f.read() == "cannot read: Permission denied"


def test_read_file_skips_decoding_known_content(bad_input_folder):
    root, _ = bad_input_folder
    path = root / "good/photo.png"
    found = FoundFile(path, "good/photo.png", path.stat().st_size, 0)
    known = read_file(found, lambda image: 1 / 0, 64, lambda h: True)  # prepare would fail if called
    assert known.known and known.pixels is None and (known.width, known.height) == (96, 72)


def test_a_symlink_never_shadows_the_real_path(tmp_path):
    from tests.utils.images import photo

    root, outside = tmp_path / "images", tmp_path / "outside"
    for folder in (root / "square", root / "bad", outside):
        folder.mkdir(parents=True)
    photo(1).save(root / "square" / "a.png")
    photo(2).save(root / "square" / "b.png")
    photo(3).save(outside / "c.png")
    # Sorted, "bad/" comes before "square/": the links must still not win.
    (root / "bad" / "square_link").symlink_to("../square", target_is_directory=True)
    (root / "bad" / "a_link.png").symlink_to("../square/a.png")
    (root / "bad" / "dangling.png").symlink_to("../square/gone.png")
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    found = {f.rel: f.error for f in scan_images(root)}
    assert set(found) == {"square/a.png", "square/b.png", "elsewhere/c.png", "bad/dangling.png"}
    assert "cannot stat" in found["bad/dangling.png"]
