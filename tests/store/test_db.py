"""Transactions that PostgreSQL aborts for a deadlock run again; other errors do not."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy
from sqlalchemy.exc import IntegrityError

from labelwise.store.db import make_engine, retry_transaction


@pytest.fixture
def pg_engine(pg_url):
    engine = make_engine(pg_url)
    with engine.begin() as c:
        c.execute(sqlalchemy.text("create table t (id int primary key, v int not null)"))
        c.execute(sqlalchemy.text("insert into t values (1, 0), (2, 0)"))
    yield engine
    engine.dispose()


def test_a_deadlocked_transaction_runs_again(pg_engine):
    # Two transactions lock two rows in opposite orders: the textbook deadlock. PostgreSQL aborts one;
    # the wrapper runs it again, so both updates land and neither caller sees an error.
    attempts: Counter[str] = Counter()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    @retry_transaction
    def bump(first: int, second: int, name: str) -> None:
        attempts[name] += 1
        with pg_engine.begin() as c:
            c.execute(sqlalchemy.text("update t set v = v + 1 where id = :i"), {"i": first})
            if attempts[name] == 1:
                barrier.wait(timeout=20)  # both hold their first row before either asks for the second
            c.execute(sqlalchemy.text("update t set v = v + 1 where id = :i"), {"i": second})

    def run(*args) -> None:
        try:
            bump(*args)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(1, 2, "a")), threading.Thread(target=run, args=(2, 1, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # exactly one of them was aborted and ran again
    with pg_engine.connect() as c:
        assert c.execute(sqlalchemy.text("select sum(v) from t")).scalar() == 4


def test_an_integrity_error_is_not_retried(pg_engine):
    calls = []

    @retry_transaction
    def insert_twice() -> None:
        calls.append(1)
        with pg_engine.begin() as c:
            c.execute(sqlalchemy.text("insert into t values (1, 5)"))

    with pytest.raises(IntegrityError):
        insert_twice()
    assert len(calls) == 1
