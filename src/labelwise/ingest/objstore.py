"""Images on an object store (``s3://bucket/prefix``, ``file:///...``): whatever pyarrow's file systems read.

The file system comes from the URI alone (:func:`pyarrow.fs.FileSystem.from_uri`); its options come
from the environment, never from the project, so that every process that reads an object (the
driver, a Ray actor on another node, the server) opens it the same way. For S3 pyarrow reads the
standard AWS variables: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (or a profile, an instance
role), ``AWS_DEFAULT_REGION`` and ``AWS_ENDPOINT_URL`` (an S3-compatible server: MinIO, Ceph).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from labelwise.errors import LabelwiseError
from labelwise.ingest.scan import IMAGE_EXTENSIONS, FoundFile

if TYPE_CHECKING:  # pyarrow is an optional extra, imported only when a URI is opened
    from pyarrow.fs import FileSystem


def is_uri(location: object) -> bool:
    """True for ``scheme://...`` (an object store); a local path, even ``C:\\x``, is not one."""
    scheme, sep, _ = str(location).partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def normalize_uri(uri: str) -> str:
    """``uri`` without a trailing ``/``; a query (``?endpoint_override=``) is refused, since every
    object's URI is stored in the database and options belong in the environment."""
    parts = urlsplit(uri)
    if parts.query or parts.fragment:
        raise LabelwiseError(
            f"{uri}: options in the URI are not kept; set them in the environment (AWS_ENDPOINT_URL, "
            "AWS_DEFAULT_REGION, ...: docs/ray.md)"
        )
    return uri.rstrip("/") if parts.path.strip("/") else f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class ObjectPath:
    """One object, by URI: what :class:`~labelwise.ingest.scan.FoundFile` holds instead of a ``Path``.

    It pickles as its URI (cheap to send to a Ray actor), which opens the file system itself.
    """

    uri: str

    def __str__(self) -> str:
        return self.uri

    @property
    def name(self) -> str:
        return unquote(PurePosixPath(urlsplit(self.uri).path).name)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    def read_bytes(self) -> bytes:
        """The object's bytes; OSError (FileNotFoundError for a missing object) as a local read."""
        try:
            filesystem, path = open_uri(self.uri)
        except LabelwiseError as exc:  # on a Ray node without the store's settings: not a broken file
            raise OSError(str(exc)) from None
        with filesystem.open_input_file(path) as file:
            return file.read()

    def size_and_mtime(self) -> tuple[int, int | None]:
        """(bytes, modification time in ns) from the store, as ``Path.stat`` gives them; FileNotFoundError if gone."""
        from pyarrow import fs

        filesystem, path = open_uri(self.uri)
        info = filesystem.get_file_info(path)
        if info.type != fs.FileType.File:
            raise FileNotFoundError(self.uri)
        return info.size, info.mtime_ns

    def readable(self) -> bool:
        """Whether this process sees the object (its file system opens, and it is there)."""
        from pyarrow import fs

        try:
            filesystem, path = open_uri(self.uri)
            return filesystem.get_file_info(path).type == fs.FileType.File
        except (LabelwiseError, OSError):
            return False


_lock = threading.Lock()
# (scheme, netloc) -> (file system, the part of pyarrow's path before the URI's path, e.g. "bucket/").
_filesystems: dict[tuple[str, str], tuple[FileSystem, str]] = {}


def forget_filesystems() -> None:
    """Open file systems afresh (after the environment that configures them changed)."""
    with _lock:
        _filesystems.clear()


def open_uri(uri: str) -> tuple[FileSystem, str]:
    """(pyarrow file system, path in it) for ``uri``; one file system per bucket and process,
    since opening one (credentials, region) costs milliseconds and objects are read by the thousand."""
    parts = urlsplit(uri)
    key = (parts.scheme, parts.netloc)
    tail = unquote(parts.path).lstrip("/")
    with _lock:
        cached = _filesystems.get(key)
    if cached is not None:
        filesystem, head = cached
        return filesystem, head + tail
    try:
        from pyarrow import fs
    except ImportError:
        raise LabelwiseError(f"{uri}: an object store needs pyarrow: pip install 'labelwise[parquet]'") from None

    try:
        filesystem, path = fs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:  # an unknown scheme, a malformed URI, no credentials
        raise LabelwiseError(f"{uri}: cannot open this file system: {exc}") from None
    if tail and path.endswith(tail):  # pyarrow's path is a prefix (bucket/, /) and the URI's path
        with _lock:
            _filesystems[key] = (filesystem, path[: len(path) - len(tail)])
    return filesystem, path


def local_or_object(location: str):
    """A ``Path`` for a local path, an :class:`ObjectPath` for a URI (paths that crossed a process boundary as text)."""
    from pathlib import Path

    return ObjectPath(location) if is_uri(location) else Path(location)


def check_folder(uri: str) -> None:
    """Refuse a URI that names no folder (prefix) with objects, or an object; say which."""
    from pyarrow import fs

    filesystem, path = open_uri(uri)
    try:
        info = filesystem.get_file_info(path)
    except OSError as exc:
        raise LabelwiseError(f"{uri}: cannot look at it: {exc}") from None
    if info.type == fs.FileType.File:
        raise LabelwiseError(f"{uri}: is an object, not a folder; --images takes a folder (prefix) of images")
    if info.type != fs.FileType.Directory:
        raise LabelwiseError(f"{uri}: images folder not found (no object under this prefix)")


def scan_objects(uri: str) -> Iterator[FoundFile]:
    """Image objects under ``uri``, in the order :func:`~labelwise.ingest.scan.scan_images` gives
    a folder (by path components); ``rel`` is relative to ``uri`` and percent-encoded (``uri/rel`` is the
    object's URI), sizes and times from the listing."""
    from pyarrow import fs

    uri = normalize_uri(uri)
    filesystem, root = open_uri(uri)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as exc:  # no such bucket, access denied
        raise LabelwiseError(f"{uri}: cannot list: {exc}") from None
    root = root.rstrip("/")
    rels = sorted(
        ((info.path[len(root) :].lstrip("/"), info) for info in infos
         if info.type == fs.FileType.File and PurePosixPath(info.path).suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda pair: pair[0].split("/"),
    )  # fmt: skip
    for raw, info in rels:
        # Percent-encoded, as a URI must be for pyarrow to parse it again (spaces, accents, '%').
        rel = quote(raw)
        yield FoundFile(ObjectPath(f"{uri}/{rel}"), rel, info.size, info.mtime_ns)
