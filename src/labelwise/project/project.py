"""A project folder: ``labelwise.toml``, the database, the embedding store and models."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import tomli_w
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from labelwise.embed import BACKBONE_DIMS, Backbone, get_backbone
from labelwise.embed.store import EmbeddingStore
from labelwise.embed.user_vectors import USER_BACKBONE, UserVectors
from labelwise.errors import LabelwiseError
from labelwise.ingest.decode import DEFAULT_MAX_PIXELS
from labelwise.ingest.objstore import check_folder, is_uri, normalize_uri
from labelwise.paths import atomic_write
from labelwise.store import db
from labelwise.store.models import LabelClass

CONFIG_NAME = "labelwise.toml"
DEFAULT_DB_NAME = "labelwise.db"


MAX_CLASS_NAME_BYTES = 255  # a class becomes a folder name in the ImageFolder export: 255 bytes at most


def check_class_name(name: str) -> str:
    """The class name stripped, or a LabelwiseError: every class becomes a folder name in the
    ImageFolder export, so it must be one safe path component."""
    name = name.strip()
    if not name:
        raise LabelwiseError("classes: a class name is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise LabelwiseError(f"classes: class name {name!r} holds a control character")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise LabelwiseError(f"classes: class name {name!r} must not contain a slash or be '.' or '..'")
    if len(name.encode()) > MAX_CLASS_NAME_BYTES:
        raise LabelwiseError(f"classes: class name {name[:40]!r}... is over {MAX_CLASS_NAME_BYTES} bytes")
    return name


# Why a new class name may not hold ';' (the API's schema refuses it with the same words).
NO_SEMICOLON = "must not contain ';' (it joins the classes of a label set)"


def check_new_class_name(name: str) -> str:
    """:func:`check_class_name` for a class about to be created or renamed, which also may not hold a
    ``;``: label sets are ``;``-joined in CSV files and the images page splits them on it. A class
    that has one already keeps it (it is only no longer given to new classes)."""
    name = check_class_name(name)
    if ";" in name:
        raise LabelwiseError(f"classes: class name {name!r} {NO_SEMICOLON}")
    return name


@dataclass
class ProjectConfig:
    """The settings in ``labelwise.toml``."""

    images_root: str
    backbone: str = "lite0"
    db_url: str = ""  # empty: the SQLite file labelwise.db in the project folder
    max_pixels: int = DEFAULT_MAX_PIXELS
    pca_components: int = 256  # 0 keeps the backbone's full dimension
    # Fixed at init (``init --multi-label``): each image carries a set of classes, possibly empty.
    multi_label: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ProjectConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LabelwiseError(
                f"{path}: not a labelwise project (no {CONFIG_NAME}); create one with `labelwise init`"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise LabelwiseError(f"{path}: invalid TOML: {exc}") from None
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__ and k != "extra"}
        if "images_root" not in known:
            raise LabelwiseError(f"{path}: missing the field images_root")
        return cls(**known, extra=data)

    def save(self, path: Path) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        data.update(self.extra)
        atomic_write(path, lambda file: file.write(tomli_w.dumps(data).encode("utf-8")))


class Project:
    """Open an existing project folder."""

    def __init__(self, folder: str | Path, *, check_migrations: bool = True) -> None:
        self.folder = Path(folder)
        self.config = ProjectConfig.load(self.folder / CONFIG_NAME)
        if self.config.backbone not in BACKBONE_DIMS and self.config.backbone != USER_BACKBONE:
            raise LabelwiseError(
                f"{self.folder / CONFIG_NAME}: backbone {self.config.backbone!r} is not one of "
                f"{', '.join(BACKBONE_DIMS)}"
            )
        if check_migrations:
            db.check_up_to_date(self.engine, f"labelwise db upgrade {self.folder}")

    @classmethod
    def create(
        cls, folder: str | Path, images_root: str | Path, *, backbone: str = "lite0", db_url: str = "", **settings
    ) -> Project:
        folder = Path(folder)
        if (folder / CONFIG_NAME).exists():
            raise LabelwiseError(f"{folder}: already a labelwise project; use `labelwise add` to add images")
        if is_uri(images_root):  # an object store: kept as the URI, each object's path is its full URI
            root_text = normalize_uri(str(images_root))
            check_folder(root_text)
        else:
            root = Path(images_root)
            if root.is_file():
                raise LabelwiseError(f"{root}: is a file, not a folder; --images takes the folder of images")
            if not root.is_dir():
                raise LabelwiseError(f"{root}: images folder not found")
            root_text = str(root.resolve())
        if backbone not in BACKBONE_DIMS and backbone != USER_BACKBONE:
            raise LabelwiseError(f"backbone: {backbone!r} is not one of {', '.join(BACKBONE_DIMS)}")
        folder.mkdir(parents=True, exist_ok=True)
        config = ProjectConfig(root_text, backbone=backbone, db_url=db_url, **settings)
        config.save(folder / CONFIG_NAME)
        project = cls(folder, check_migrations=False)
        db.upgrade(project.engine)
        return project

    def save_config(self) -> None:
        self.config.save(self.folder / CONFIG_NAME)

    @property
    def images_root(self) -> Path:
        """The local images folder (for a project on an object store, see :attr:`images_uri`)."""
        return Path(self.config.images_root)

    @property
    def images_uri(self) -> str | None:
        """The object store URI of the images (``s3://bucket/prefix``), or None for a local folder."""
        root = self.config.images_root
        return normalize_uri(root) if is_uri(root) else None

    @property
    def multi_label(self) -> bool:
        """A multi-label project: a label is a set of classes (project/multilabel_labels.py)."""
        return bool(self.config.multi_label)

    @property
    def kind(self) -> str:
        return "multi-label" if self.multi_label else "single-label"

    @property
    def db_url(self) -> str:
        return self.config.db_url or db.sqlite_url(self.folder / DEFAULT_DB_NAME)

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.db_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.session_factory(self.engine)

    @cached_property
    def store(self) -> EmbeddingStore:
        return EmbeddingStore(
            self.folder / "embeddings" / self.config.backbone, self.embedding_dim, self.config.backbone
        )

    @property
    def embedding_dim(self) -> int:
        """The backbone's dimension, or that of the user's vectors (``init --embeddings``)."""
        if self.config.backbone == USER_BACKBONE:
            return int(self.config.extra["embedding_dim"])
        return BACKBONE_DIMS[self.config.backbone]

    @cached_property
    def backbone(self) -> Backbone | UserVectors:
        if self.config.backbone == USER_BACKBONE:
            return UserVectors(self.embedding_dim)
        return get_backbone(self.config.backbone)

    def class_names(self) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))

    def add_classes(self, names: list[str]) -> list[str]:
        """Append classes not yet known, in order; returns the names added."""
        added = []
        with self.sessions.begin() as session:
            known = set(session.scalars(select(LabelClass.name)))
            position = len(known)
            for name in names:
                name = check_class_name(name)
                if name not in known:
                    check_new_class_name(name)
                    session.add(LabelClass(name=name, position=position))
                    known.add(name)
                    added.append(name)
                    position += 1
        return added

    def upgrade_database(self) -> int:
        """Apply the pending migrations; returns how many were applied."""
        pending = db.pending_migrations(self.engine)
        db.upgrade(self.engine)
        return len(pending)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
