"""The database schema (SQLAlchemy 2). Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUS_OK, STATUS_BROKEN, STATUS_DUPLICATE = "ok", "broken", "duplicate"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Image(Base):
    """One file under the images root. Images stay where they are; we keep what we learned of them."""

    __tablename__ = "images"

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


class LabelClass(Base):
    """A class of the project; ``position`` fixes its probability column."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    position: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Annotation(Base):
    """A label given to an image. Relabeling supersedes; the history stays for audit.

    ``model_version``, ``strategy`` and ``score`` record what caused the suggestion, so users can
    audit what each heuristic chose.
    """

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_current", "image_id", "superseded"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    annotator: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(32))  # cli, csv, folders, server
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_version: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
