"""Alembic environment: the engine comes from labelwise (config.attributes), never from an ini file."""

from alembic import context
from sqlalchemy import text

from labelwise.errors import LabelwiseError
from labelwise.store.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a SQLite table (copy, DROP, rename). With foreign keys on, the DROP of a
        # table that other rows point at (annotations, from label_reviews) fails half-way. Alembic's
        # documented recipe: foreign keys off for the migration (the pragma is ignored inside a
        # transaction, so before it begins), then check every reference once at the end.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.execute(text("PRAGMA foreign_key_check")).all()
            if broken:
                connection.rollback()
                tables = sorted({row[0] for row in broken})
                raise LabelwiseError(
                    f"migration left {len(broken)} row(s) pointing at missing rows (tables: "
                    f"{', '.join(tables)}); restore the database from its backup"
                )
        connection.commit()
    finally:
        if sqlite:
            # The connection goes back to the pool: every other user expects foreign keys on.
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
