"""Classes can be renamed, merged and retired (issue 20, item 11): a ``retired`` flag and the
``class_changes`` history.

Revision ID: 0007_classes
Revises: 0006_disk
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_classes"
down_revision = "0006_disk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classes") as batch:
        batch.add_column(sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "class_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("class_id", sa.Integer, sa.ForeignKey("classes.id"), nullable=False),
        sa.Column("old_name", sa.String(255), nullable=False),
        sa.Column("new_name", sa.String(255), nullable=True),
        sa.Column("labels_moved", sa.Integer, nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("class_changes")
    with op.batch_alter_table("classes") as batch:
        batch.drop_column("retired")
