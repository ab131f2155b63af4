"""Engines, sessions and migrations. SQLite by default (WAL mode); PostgreSQL by URL."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from labelwise.errors import LabelwiseError

MIGRATIONS = Path(__file__).parent / "migrations"

# PostgreSQL's answers that mean "run the transaction again", not "this request is wrong":
# deadlock_detected and serialization_failure. Two annotators taking leases in different orders (one
# served the new ranking, one the old) can deadlock; PostgreSQL then aborts one of them.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_ATTEMPTS = 5

P = ParamSpec("P")
R = TypeVar("R")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (the driver labelwise installs), not SQLAlchemy's psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers (the web pages) proceed while a writer commits labels.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: a label acknowledged to an annotator survives a power cut. NORMAL in WAL mode
            # could lose the last commits; FULL costs one fsync of the WAL per commit, small next
            # to the pace of people labeling (and ingest commits in batches).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    command.upgrade(alembic_config(engine), "head")


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied to this database (empty when it is up to date)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    pending = []
    for revision in script.walk_revisions():
        if revision.revision in current:
            break
        pending.append(revision.revision)
    return pending


def check_up_to_date(engine: Engine, upgrade_hint: str) -> None:
    pending = pending_migrations(engine)
    if pending:
        raise LabelwiseError(
            f"database {engine.url.render_as_string(hide_password=True)} has {len(pending)} pending "
            f"migration(s) ({', '.join(reversed(pending))}); upgrade it with `{upgrade_hint}`"
        )


def is_retryable(error: DBAPIError) -> bool:
    """Whether the database aborted the transaction only because of a concurrent one."""
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def retry_transaction(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` (one whole transaction) again when the database aborts it for a deadlock or a
    serialization failure, up to ``TRANSACTION_ATTEMPTS`` times, after a short random wait so that the
    two parties do not collide again. The aborted attempt was rolled back, so nothing is done twice."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                return function(*args, **kwargs)
            except DBAPIError as error:
                if attempt == TRANSACTION_ATTEMPTS or not is_retryable(error):
                    raise
                time.sleep(random.uniform(0, 0.02 * attempt))
        raise AssertionError("unreachable")

    return wrapper


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
