"""Object store URIs: which strings are URIs, and a file:// listing that matches the folder scan."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from labelwise.errors import LabelwiseError
from labelwise.ingest.objstore import ObjectPath, is_uri, local_or_object, normalize_uri, scan_objects
from labelwise.ingest.scan import scan_images
from tests.utils.images import photo


@pytest.mark.parametrize(
    ("text", "expected"),
    [("s3://bucket/prefix", True), ("file:///tmp/x", True), ("gs://b", True), ("/tmp/s3://x", False),
     ("C:\\images", False), ("images/sub", False), ("c://x", False), ("://x", False)],
)  # fmt: skip
def test_is_uri(text, expected):
    assert is_uri(text) is expected


def test_normalize_uri_drops_the_trailing_slash_and_refuses_options():
    assert normalize_uri("s3://bucket/prefix/") == "s3://bucket/prefix"
    assert normalize_uri("s3://bucket/") == "s3://bucket"
    with pytest.raises(LabelwiseError, match=r"s3://b/p\?region=x: options in the URI are not kept"):
        normalize_uri("s3://b/p?region=x")


def test_a_file_uri_lists_what_the_folder_scan_finds(tmp_path):
    for rel in ("b/z.png", "a.jpg", "b/a/c.PNG", "b-c/d.webp", "notes.txt", "é/ü.png"):  # é sorts last
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(len(rel)).save(path, format="PNG") if rel.lower().endswith("png") else path.write_bytes(b"x" * len(rel))
    scanned = [(f.rel, f.size, f.mtime_ns) for f in scan_images(tmp_path)]
    listed = list(scan_objects(f"file://{tmp_path}/"))
    assert [(unquote(f.rel), f.size, f.mtime_ns) for f in listed] == scanned
    assert listed[-1].rel == "%C3%A9/%C3%BC.png"  # a URI's path is percent-encoded
    assert listed[-1].path.read_bytes() == (tmp_path / "é/ü.png").read_bytes()
    assert len(scanned) == 5
    first = listed[0]
    assert first.path == ObjectPath(f"file://{tmp_path}/{first.rel}")
    assert first.path.read_bytes() == (tmp_path / first.rel).read_bytes()
    with pytest.raises(FileNotFoundError):
        ObjectPath(f"file://{tmp_path}/gone.png").read_bytes()
    assert local_or_object(str(first.path)) == first.path
    assert local_or_object(str(tmp_path)) == tmp_path
