"""The folder is followed: an image whose labeled content changed waits for review.

(Missing files need no schema change: ``status`` takes the value ``missing``.)

Revision ID: 0006_disk
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_disk"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("images", sa.Column("review_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("review_reason")
