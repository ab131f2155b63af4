"""Multi-label projects: an annotation's set of classes, and annotations without a single class.

Revision ID: 0013_multilabel
Revises: 0012_trust2
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_multilabel"
down_revision = "0012_trust2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_classes",
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id"), primary_key=True),
        sa.Column("class_id", sa.Integer, sa.ForeignKey("classes.id"), primary_key=True, index=True),
    )
    # A multi-label annotation has no single class: its classes are rows of annotation_classes.
    with op.batch_alter_table("annotations") as batch:
        batch.alter_column("class_id", existing_type=sa.Integer, nullable=True)


def downgrade() -> None:
    op.drop_table("annotation_classes")
    with op.batch_alter_table("annotations") as batch:
        batch.alter_column("class_id", existing_type=sa.Integer, nullable=False)
