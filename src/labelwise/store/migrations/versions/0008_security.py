"""Accounts own their labels by id; undo keeps the row; accounts can be disabled.

Revision ID: 0008_security
Revises: 0007_classes
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_security"
down_revision = "0007_classes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deleted_by", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_annotations_user_id", "users", ["user_id"], ["id"])
        batch.create_foreign_key("fk_annotations_deleted_by", "users", ["deleted_by"], ["id"])
        batch.create_index("ix_annotations_user_id", ["user_id"])
    # Only labels given through the server came from an account; those from the command line or an
    # import keep user_id NULL, whatever the name a user was later given.
    op.execute(
        "UPDATE annotations SET user_id = (SELECT users.id FROM users WHERE users.name = annotations.annotator) "
        "WHERE source = 'server'"
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "login_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "login_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_codes")
    op.drop_table("login_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_index("ix_annotations_user_id")
        batch.drop_constraint("fk_annotations_deleted_by", type_="foreignkey")
        batch.drop_constraint("fk_annotations_user_id", type_="foreignkey")
        batch.drop_column("deleted_by")
        batch.drop_column("deleted_at")
        batch.drop_column("user_id")
