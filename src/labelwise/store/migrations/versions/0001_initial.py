"""Images, classes and annotations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(4096), nullable=False, unique=True),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("mtime_ns", sa.BigInteger),
        sa.Column("content_hash", sa.String(64), index=True),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("reason", sa.Text),
        sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("images.id")),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("position", sa.Integer, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
        sa.Column("class_id", sa.Integer, sa.ForeignKey("classes.id"), nullable=False),
        sa.Column("annotator", sa.String(255), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.Integer),
        sa.Column("strategy", sa.String(64)),
        sa.Column("score", sa.Float),
        sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_annotations_current", "annotations", ["image_id", "superseded"])


def downgrade() -> None:
    op.drop_index("ix_annotations_current", "annotations")
    op.drop_table("annotations")
    op.drop_table("classes")
    op.drop_table("images")
