"""Multi-label projects: an annotation's set of classes, and annotations without a single class.

Revision ID: 0013_multilabel
Revises: 0012_trust2
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from labelwise.errors import LabelwiseError

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
    # The release before has no place for a label set: refuse before changing anything rather than
    # drop the sets and then fail on the NOT NULL (SQLite runs this DDL without a transaction).
    sets = op.get_bind().execute(sa.text("SELECT count(*) FROM annotations WHERE class_id IS NULL")).scalar()
    if sets:
        raise LabelwiseError(
            f"downgrade below 0013_multilabel: the database holds {sets} multi-label annotation(s) "
            "(label sets, current or in the history), which the release before cannot store; "
            "export them (labelwise export) and keep this version"
        )
    with op.batch_alter_table("annotations") as batch:
        batch.alter_column("class_id", existing_type=sa.Integer, nullable=False)
    op.drop_table("annotation_classes")
