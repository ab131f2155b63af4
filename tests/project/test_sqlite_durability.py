"""SQLite is opened so that a committed label survives a power cut (issue 9)."""

from labelwise.store.db import make_engine


def test_sqlite_commits_are_synced_to_disk(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'project.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # 2 = FULL (1 = NORMAL)
    engine.dispose()
