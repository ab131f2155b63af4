"""PostgreSQL for the tests: the server of this machine when there is one, else a throw-away instance."""

from __future__ import annotations

import os
from pathlib import Path

PG_ADMIN_URL = os.environ.get("LABELWISE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def can_connect(url: str) -> bool:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def throwaway_postgres(folder: Path):
    """Start a private PostgreSQL from the installed binaries (as the postgres user when root)."""
    import glob
    import shutil
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        raise RuntimeError(
            "PostgreSQL is neither reachable at 127.0.0.1:5432 nor installed; `make test` installs "
            "the Debian package postgresql"
        )
    bindir = Path(bins[-1]).parent
    data, port = folder / "data", 55432
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    shutil.chown(folder, "postgres") if run_as else None
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)  # fmt: skip
    # A Unix socket only (no TCP port to collide with), and a log file: pg_ctl must not hand the
    # server our stdout, or whoever reads it would wait for the server to exit.
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=''", "start"], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    stop = [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return f"postgresql+psycopg://postgres@/postgres?host={folder}&port={port}", stop
