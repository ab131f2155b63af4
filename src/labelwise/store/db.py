"""Engines, sessions and migrations. SQLite by default (WAL mode); PostgreSQL by URL."""

from __future__ import annotations

import functools
import random
import sqlite3
import threading
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


SQLITE_BUSY_S = 30  # how long a writer waits for another process's write transaction, then fails
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(database: str) -> threading.Lock:
    """One lock per database file per process (the server opens several engines on one file)."""
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(database, threading.Lock())


class _OneWriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions, in this process, take turns on a Python lock.

    SQLite admits one writer at a time. The others wait in its busy handler, which sleeps and polls
    (1, 2, 5, ... 100 ms): under load the lock often sits free while every waiter sleeps, and a waiter
    can lose the race again and again (20 annotators: 30 pairs/s and a p99 of 4 s, issue 8). Waiting on
    a Python lock instead hands the write lock over the moment a commit ends. The lock is taken at the
    transaction's first write (the sqlite3 module opens the transaction there too, so reads stay
    concurrent) and given back at commit, rollback or close. Other processes (the training process, the
    command line) still meet the busy handler, as before."""

    write_lock: threading.Lock
    _holds = False
    _relaxed = False  # this transaction commits without a WAL fsync (relaxed_commit), then FULL again

    def relax_this_commit(self) -> None:
        if self.in_transaction:  # the setting must change before the transaction, or not at all
            return
        super().execute("PRAGMA synchronous=NORMAL")
        self._relaxed = True

    def _transaction_ended(self) -> None:
        self.give_write_lock_back()
        if self._relaxed:  # FULL again before the flag goes: the next transaction may be a label
            super().execute("PRAGMA synchronous=FULL")
            self._relaxed = False

    def cursor(self, factory: type[sqlite3.Cursor] | None = None) -> sqlite3.Cursor:
        return super().cursor(factory or _OneWriterCursor)

    def take_write_lock(self, statement: str) -> None:
        if self._holds or not statement.lstrip()[:7].upper().startswith(_DML):
            return
        # Bounded like SQLite's own wait: a thread that writes on two connections at once (a bug) waits
        # out the timeout and then meets SQLite's answer, as it would without this lock.
        self._holds = self.write_lock.acquire(timeout=SQLITE_BUSY_S)

    def give_write_lock_back(self) -> None:
        if self._holds:
            self._holds = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._transaction_ended()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._transaction_ended()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_write_lock_back()


class _OneWriterCursor(sqlite3.Cursor):
    def execute(self, statement: str, parameters=(), /) -> sqlite3.Cursor:
        return self._locked(super().execute, statement, parameters)

    def executemany(self, statement: str, parameters, /) -> sqlite3.Cursor:
        return self._locked(super().executemany, statement, parameters)

    def _locked(self, run: Callable, statement: str, parameters) -> sqlite3.Cursor:
        connection = self.connection
        connection.take_write_lock(statement)
        try:
            return run(statement, parameters)
        finally:
            if not connection.in_transaction:  # autocommit or a failed BEGIN: nothing to hold
                connection.give_write_lock_back()


def relaxed_commit(session: Session) -> None:
    """This transaction's commit need not reach the disk before it is acknowledged: call first thing in
    a transaction whose writes a power cut may lose without harm (a lease: the image is simply free
    again, and a label on it is still accepted as a late label). Labels never use it.

    SQLite (WAL): ``synchronous=NORMAL`` for this commit only, no fsync of the WAL; the next FULL commit
    (any label) fsyncs the WAL file and with it this transaction's frames, and a power cut can only
    roll back to a consistent earlier state (SQLite's documented guarantee). PostgreSQL: ``SET LOCAL
    synchronous_commit = off``, its asynchronous commit, with the same guarantees. A lease + label pair
    then waits for one flush to disk instead of two (issue 8: the single writer's ceiling)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        return
    raw = connection.connection.dbapi_connection
    if isinstance(raw, _OneWriterConnection):
        raw.relax_this_commit()


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        lock = _write_lock(url)
        factory = type("OneWriterConnection", (_OneWriterConnection,), {"write_lock": lock})
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_S, "check_same_thread": False, "factory": factory}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers (the web pages) proceed while a writer commits labels.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: a label acknowledged to an annotator survives a power cut. NORMAL in WAL mode
            # could lose the last commits; FULL costs one fsync of the WAL per commit, small next
            # to the pace of people labeling (and ingest commits in batches). Leases opt out per
            # transaction (relaxed_commit): losing one costs nothing.
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
