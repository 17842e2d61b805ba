"""Opening the store: the engine for a URL, SQLite pragmas, and migrating to the newest schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import make_url

from mamori.store.schema import REVISION, metadata

_MIGRATIONS = Path(__file__).with_name("migrations")
# The execution option that marks a connection as read-only (``Database.read``).
READ_ONLY = "mamori_read_only"
# The execution option that makes a SQLite commit durable at once (``Database.begin``).
DURABLE = "mamori_durable"


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for a bare ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# SQLAlchemy otherwise writes a failing statement's ``[parameters: …]`` into the error's text,
# and a failed request's traceback is logged: the values (wrapped material, user data) would
# reach the log. The statement itself stays in the text.
_QUIET = {"hide_parameters": True}


class UnsupportedStoreUrl(ValueError):
    """The store URL names neither SQLite nor PostgreSQL."""


def open_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalize_url(url)
    if not url.startswith(("sqlite:", "sqlite+", "postgresql+psycopg:")):
        raise UnsupportedStoreUrl("the store URL must be sqlite:///… or postgresql://…")
    if url.startswith("sqlite"):
        db_path = make_url(url).database
        if db_path:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_QUIET
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let the driver not open transactions on its own; SQLAlchemy's begin event below
            # does.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Deleted rows (wrapped key material, sealed secret values) are overwritten with
            # zeros rather than left in free space; the WAL is cleared by ``Database.erase``.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Reads begin deferred: under WAL they run beside the writer instead of queueing
            # for its lock. Writes take the lock up front so two writers queue, not fail.
            options = conn.get_execution_options()
            read_only = options.get(READ_ONLY, False)
            if not read_only:
                _synchronous(conn, "FULL" if options.get(DURABLE, False) else "NORMAL")
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **_QUIET)


def _synchronous(conn: Any, level: str) -> None:
    """WAL with ``NORMAL`` may lose the last commits on power loss (never corrupt); an
    acknowledged write (``Database.begin``'s default) needs ``FULL``. SQLite
    refuses the change inside a transaction, so it is made here, before BEGIN, and only when
    the connection's level differs."""
    info = conn.connection.info
    if info.get("synchronous", "NORMAL") != level:
        conn.exec_driver_sql(f"PRAGMA synchronous={level}")
        info["synchronous"] = level


def checkpoint(engine: Engine) -> bool:
    """SQLite: copy the WAL into the database file and truncate it to zero bytes, so the pages
    of deleted rows are no longer on disk. False when a reader kept it from completing."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        busy = int(cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
        cursor.close()
    finally:
        raw.close()
    return busy == 0


class SchemaTooNew(RuntimeError):
    """The store was migrated by a newer Mamori: this one does not know its schema."""


# Alembic's own bookkeeping table, as Alembic creates it (a test compares the two).
_VERSIONS = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; refuse a schema from a newer Mamori
    rather than let Alembic fail on a revision it cannot find.

    Alembic (and the Mako and Pygments it pulls in) is imported only when there is something
    to migrate: a store already at ``REVISION`` (every restart) needs no work, and an empty
    SQLite store gets the declared tables at once and is stamped ``REVISION``; a test proves
    that schema is, statement for statement, the one the migrations build. This keeps both
    out of every start of ``mamori.testing``'s server (docs/testing.md)."""
    with engine.begin() as conn:
        current = _current(conn)
        if current == [REVISION]:
            return
        if not current and conn.dialect.name == "sqlite" and not inspect(conn).get_table_names():
            metadata.create_all(conn, checkfirst=False)
            _VERSIONS.create(conn, checkfirst=False)
            conn.execute(_VERSIONS.insert().values(version_num=REVISION))
            return
    _alembic_upgrade(engine)


def _current(conn: Connection) -> list[str]:
    if not inspect(conn).has_table(_VERSIONS.name):
        return []
    return list(conn.execute(select(_VERSIONS.c.version_num)).scalars())


def _alembic_upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    known = {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
        unknown = [rev for rev in current if rev not in known]
        if unknown:
            raise SchemaTooNew(
                f"the database is at schema revision {unknown[0]}, which this Mamori does not "
                "know: it was migrated by a newer Mamori (run that version, or restore a backup "
                "made before the upgrade)"
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
