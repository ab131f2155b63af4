"""Labels record the model's pre-selection shown when they were given, and whether it was accepted;
the predictions of the user's own model (``labelwise import-predictions``) get a table.

Revision ID: 0010_faster
Revises: 0008_security
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_faster"
down_revision = "0008_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("preselected", sa.String(255), nullable=True))
        batch.add_column(sa.Column("preselect_accepted", sa.Boolean, nullable=True))
    op.create_table(
        "imported_predictions",
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), primary_key=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("imported_predictions")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("preselect_accepted")
        batch.drop_column("preselected")
