"""SQLite writers of one process take turns on a Python lock, not in SQLite's sleeping busy handler."""

from __future__ import annotations

import threading

from sqlalchemy import text

from labelwise.store.db import make_engine


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'project.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def test_a_write_transaction_holds_the_process_lock_until_it_ends(tmp_path):
    engine = _engine(tmp_path)
    lock = engine.raw_connection().driver_connection.write_lock
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM t"))
        assert not lock.locked(), "reads do not wait for writers"
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert lock.locked()
        conn.commit()
        assert not lock.locked()
        conn.execute(text("INSERT INTO t VALUES (2)"))
        conn.rollback()
        assert not lock.locked()
    # Two engines on one file (the server opens several) share the lock.
    other = make_engine(f"sqlite:///{tmp_path / 'project.db'}")
    assert other.raw_connection().driver_connection.write_lock is lock
    engine.dispose()
    other.dispose()


def test_a_second_writer_waits_for_the_lock_then_commits(tmp_path):
    engine = _engine(tmp_path)
    lock = engine.raw_connection().driver_connection.write_lock
    inserted = threading.Event()
    with engine.connect() as first:
        first.execute(text("INSERT INTO t VALUES (1)"))

        def second() -> None:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
            inserted.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not inserted.wait(0.5), "the second writer went ahead while the first held the lock"
        assert lock.locked()
        first.commit()
        thread.join(10)
    assert inserted.is_set()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()
