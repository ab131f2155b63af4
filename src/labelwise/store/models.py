"""The database schema (SQLAlchemy 2). Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUS_OK, STATUS_BROKEN, STATUS_DUPLICATE = "ok", "broken", "duplicate"
STATUS_MISSING = "missing"  # recorded once, not found by the last ingest: not served, flagged in exports


def utcnow() -> datetime:
    return datetime.now(UTC)


def random_order_key(path: str) -> int:
    """A random-looking 63-bit key fixed by an image's path (relative to the images root).

    Images are ingested in sorted path order, usually one folder per class, camera or day, so the
    unranked queue and the stopping set follow these keys instead of ids. A keyed hash rather than
    a random draw: ingest, the migration and every database agree, and a re-ingested file keeps
    its place.
    """
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8, person=b"labelwise-order").digest()
    return int.from_bytes(digest, "big") >> 1


def _random_order_key_default(context) -> int:
    return random_order_key(context.get_current_parameters()["path"])


class Base(DeclarativeBase):
    pass


class Image(Base):
    """One file under the images root. Images stay where they are; we keep what we learned of them."""

    __tablename__ = "images"
    # (status, rand_key, id): the fallback queue walks the ok images in key order: no sort, no ORDER BY RANDOM().
    __table_args__ = (Index("ix_images_rand_key", "status", "rand_key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), unique=True)  # relative to the images root, POSIX
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # BLAKE2b-256, hex
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Written at insert from the path (see random_order_key); NULL only for rows written by raw SQL.
    rand_key: Mapped[int | None] = mapped_column(BigInteger, default=_random_order_key_default)
    # Set when the content of a labeled file changed: the old label is superseded and the image
    # waits in the queue for a new one; labeling it clears this.
    review_reason: Mapped[str | None] = mapped_column(Text)


class LabelClass(Base):
    """A class of the project; ``position`` fixes its probability column."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    position: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A retired class is no longer offered for labeling; its labels, its position and its
    # probability column stay, so nothing labeled before is lost.
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ClassChange(Base):
    """A rename, merge, retirement or restoration of a class, kept for audit: annotations point at
    class ids, so a rename changes one row, and this table remembers the name it had."""

    __tablename__ = "class_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # rename, merge, retire, restore
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    old_name: Mapped[str] = mapped_column(String(255))
    new_name: Mapped[str | None] = mapped_column(String(255))  # rename: the new name; merge: the class merged into
    labels_moved: Mapped[int] = mapped_column(Integer, default=0)
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Annotation(Base):
    """A label given to an image. Relabeling supersedes; the history stays for audit.

    ``model_version``, ``strategy`` and ``score`` record what caused the suggestion, so users can
    audit what each heuristic chose.
    """

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_current", "image_id", "superseded"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    # The class of a single-label project's label; NULL in a multi-label project, whose label is the
    # set of rows of :class:`AnnotationClass` (none at all: an explicit "none of the classes").
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"))
    annotator: Mapped[str] = mapped_column(String(255))  # display only; rights go by user_id
    source: Mapped[str] = mapped_column(String(32))  # cli, csv, folders, server, batch, label-studio
    # The account that made it; NULL for labels from the command line or an import (see ``source``),
    # so no account, whatever its name, owns those.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_version: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    # An audit pick (drawn at random, not by the strategy) and what the serving model predicted
    # for it before the label existed: the honest accuracy estimate reads these.
    audit: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    predicted: Mapped[str | None] = mapped_column(String(255))
    predicted_p: Mapped[float | None] = mapped_column(Float)
    # Undo keeps the row for audit: it is superseded and marked deleted, never erased.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The class the page pre-selected from the model's top prediction (NULL: none shown), and
    # whether the label is that class: the acceptance rate and the later corrections read these.
    preselected: Mapped[str | None] = mapped_column(String(255))
    preselect_accepted: Mapped[bool | None] = mapped_column(Boolean)
    # A second opinion on an overlap image (project/overlap.py): one more person's label, stored
    # beside the image's label instead of replacing it. It is never the image's current label, so
    # it is written with superseded=True and every reader of current labels is unchanged; the
    # majority of the opinions and the current label is what training uses.
    opinion: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AnnotationClass(Base):
    """One class of a multi-label label (project/multilabel_labels.py). The annotation row keeps who,
    when, superseded and deleted exactly as for a single-label label, so the queue, undo and the
    history work unchanged; these rows are its set of classes, possibly empty."""

    __tablename__ = "annotation_classes"

    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id"), primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), primary_key=True, index=True)


class ImportedPrediction(Base):
    """A prediction of the user's own model for one image (``labelwise import-predictions``): shown
    as the pre-selection on the annotate page and in the image grid. One row per image; a new
    import replaces it."""

    __tablename__ = "imported_predictions"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), primary_key=True)
    label: Mapped[str] = mapped_column(String(255))
    probability: Mapped[float] = mapped_column(Float)
    source_file: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person with access. Only a hash of the token is stored."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin or annotator
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # set: every request is 401


class LoginSession(Base):
    """A browser's login: the cookie holds a random id, the database its hash. Logout revokes it."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginCode(Base):
    """A one-time code for the login link printed by ``serve``/``demo``: short-lived, used once."""

    __tablename__ = "login_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Setting(Base):
    """A project setting changed from the dashboard; every change is kept in ``settings_history``."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(255))


class SettingChange(Base):
    __tablename__ = "settings_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lease(Base):
    """An image handed to one person until ``expires_at``: at most one lease row per image.

    Once the image is labeled the row stays, marked ``done``: the primary key then stops any later
    lease of it, which makes "never labeled twice" a database constraint instead of a check that a
    concurrent request could slip between.
    """

    __tablename__ = "leases"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model_version: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    audit: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    predicted: Mapped[str | None] = mapped_column(String(255))  # the serving model's top class
    predicted_p: Mapped[float | None] = mapped_column(Float)


class OpinionLease(Base):
    """A second opinion of an overlap image handed to one person (project/overlap.py).

    The primary key (image, person) is the database's guarantee that nobody is asked twice for the
    same image; the row stays, marked ``done``, once they labeled it. Expiry and renewal work as for
    :class:`Lease`.
    """

    __tablename__ = "opinion_leases"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class Skip(Base):
    """Someone skipped an image: it goes back to the others, not to them that day."""

    __tablename__ = "skips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    skipped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """One retraining: its estimate of accuracy, or the error that stopped it."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16))  # ok or failed
    n_labels: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str | None] = mapped_column(String(64))
    accuracy: Mapped[float | None] = mapped_column(Float)
    accuracy_sd: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class LabelReview(Base):
    """A reviewer looked at an image's label: confirmed it, or changed it (the change is also a new
    annotation, with source ``review``; the one it replaced stays, superseded). Who, when, from what."""

    __tablename__ = "label_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    # The annotation looked at, and the one the change made (NULL for a confirmation).
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id"))
    new_annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"))
    action: Mapped[str] = mapped_column(String(16))  # confirm or change
    old_class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    new_class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    reason: Mapped[str | None] = mapped_column(String(32))  # likely-mislabeled, or None when looked up by path
    given_p: Mapped[float | None] = mapped_column(Float)  # out-of-fold probability of the label reviewed
    reviewed_by: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # NULL from the command line
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
