"""A random order key per image, so that path (folder) order decides neither the unranked queue
nor the stopping set.

Revision ID: 0003_randkey
Revises: 0002
Create Date: 2026-11-28
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003_randkey"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 5_000


def _key(path: str) -> int:
    # A frozen copy of labelwise.store.models.random_order_key: migrations must not change when
    # the code does.
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8, person=b"labelwise-order").digest()
    return int.from_bytes(digest, "big") >> 1


def upgrade() -> None:
    # Nullable: making it NOT NULL would rebuild the images table on SQLite, which the foreign keys
    # of annotations and leases forbid. Every insert through labelwise writes the key.
    op.add_column("images", sa.Column("rand_key", sa.BigInteger, nullable=True))
    images = sa.table("images", sa.column("id", sa.Integer), sa.column("path", sa.String),
                      sa.column("rand_key", sa.BigInteger))  # fmt: skip
    connection = op.get_bind()
    update = images.update().where(images.c.id == sa.bindparam("row_id")).values(rand_key=sa.bindparam("key"))
    last = 0
    while True:  # in batches by id: a million rows never sit in memory at once
        rows = connection.execute(
            sa.select(images.c.id, images.c.path).where(images.c.id > last).order_by(images.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(update, [{"row_id": row_id, "key": _key(path)} for row_id, path in rows])
        last = rows[-1][0]
    op.create_index("ix_images_rand_key", "images", ["status", "rand_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_images_rand_key", table_name="images")
    op.drop_column("images", "rand_key")
