"""Second opinions on overlap images: their leases, one per (image, person), and the opinion flag
on annotations.

Revision ID: 0012_trust2
Revises: 0011_trust
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_trust2"
down_revision = "0011_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opinion_leases",
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True, index=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("done", sa.Boolean, nullable=False),
    )
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("opinion", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("opinion")
    op.drop_table("opinion_leases")
