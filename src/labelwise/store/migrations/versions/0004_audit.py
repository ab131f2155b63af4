"""The random audit sample: what the serving model predicted for a leased image, and whether the
image was an audit pick; copied onto the annotation when its label arrives.

Revision ID: 0004_audit
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit"
down_revision = "0003_randkey"
branch_labels = None
depends_on = None

TABLES = ("leases", "annotations")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("audit", sa.Boolean, nullable=False, server_default=sa.false()))
            batch.add_column(sa.Column("predicted", sa.String(255), nullable=True))
            batch.add_column(sa.Column("predicted_p", sa.Float, nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("predicted_p")
            batch.drop_column("predicted")
            batch.drop_column("audit")
