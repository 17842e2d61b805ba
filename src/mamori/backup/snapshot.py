"""Consistent copies of a running store: SQLite's online backup API, or ``pg_dump``/``pg_restore``.

The PostgreSQL tools get the password through ``PGPASSWORD``, never on their command line
(where ``ps`` would show it).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from mamori.store.engine import normalize_url


class SnapshotError(RuntimeError):
    """The store could not be copied or restored."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database:
        raise SnapshotError("the SQLite store URL names no file")
    return Path(parsed.database)


def sqlite_snapshot(db: Path, dest: Path) -> None:
    """Copy a live SQLite database, WAL included, as of one instant: the backup API restarts
    its copy if a writer changes a page it already copied."""
    if not db.is_file():
        raise SnapshotError(f"{db} does not exist")
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    except sqlite3.Error as exc:
        raise SnapshotError(f"cannot copy {db}: {exc}") from None
    finally:
        target.close()
        source.close()


def pg_dump(url: str, dest: Path) -> None:
    """``pg_dump --format=custom`` of the store into ``dest`` (one consistent snapshot)."""
    _run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={dest}"], url)


def pg_restore(url: str, dump: Path) -> None:
    """Load a ``pg_dump`` archive into an empty database, all or nothing."""
    _run(
        "pg_restore",
        ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", str(dump)],
        url,
    )


def pg_is_empty(url: str) -> bool:
    """Whether the database has no tables in its ``public`` schema."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        engine.dispose()


def store_facts(url: str) -> tuple[str, list[tuple[int, bytes]]]:
    """The schema revision and the keyring rows (version, wrapped DEK) of a store."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            rows = conn.execute(text("SELECT version, wrapped_dek FROM keyring ORDER BY version"))
            return str(revision), [(int(r[0]), bytes(r[1])) for r in rows]
    finally:
        engine.dispose()


def _run(tool: str, args: list[str], url: str) -> None:
    program = shutil.which(tool)
    if program is None:
        raise SnapshotError(
            f"{tool} is not installed; install the PostgreSQL client tools of the server's "
            "major version (docs/operations.md)"
        )
    parsed: URL = make_url(url)
    env = {**os.environ}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string()
    # The program is a fixed name found on PATH; the URL is one argument, never a shell word.
    done = subprocess.run(  # noqa: S603
        [program, *args, f"--dbname={libpq}"], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        reason = " ".join(done.stderr.split())[:400]
        raise SnapshotError(f"{tool} failed: {reason}")
