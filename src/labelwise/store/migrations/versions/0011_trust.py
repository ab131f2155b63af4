"""Label reviews: confirmations and changes of a label by a reviewer, kept for audit.

Revision ID: 0011_trust
Revises: 0010_faster
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_trust"
down_revision = "0010_faster"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False, index=True),
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id"), nullable=False),
        sa.Column("new_annotation_id", sa.Integer, sa.ForeignKey("annotations.id"), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("old_class_id", sa.Integer, sa.ForeignKey("classes.id"), nullable=False),
        sa.Column("new_class_id", sa.Integer, sa.ForeignKey("classes.id"), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("given_p", sa.Float, nullable=True),
        sa.Column("reviewed_by", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("label_reviews")
