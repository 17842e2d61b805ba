"""A failing statement's parameters stay out of the log (review finding 3b).

SQLAlchemy renders ``[parameters: {...}]`` into every DBAPI error's text, and the gateway logs a
failed request with its traceback: an overflow on a table holding wrapped material or user data
would write those values to the server log. No API request reaches a store error today (every
string parameter is bounded below its column, NULs are refused), so the engine is attacked here
directly, on both backends, through the logger the gateway uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError

from mamori.store import schema as t
from mamori.store.database import Database
from tests.conftest import create_pg_database, drop_pg_database

MARKER = "wrapped-material-" + "x" * 40  # longer than accounts.id's 32: PostgreSQL's DataError


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    pg = create_pg_database() if request.param == "postgres" else None
    db = Database(pg.url if pg else f"sqlite:///{tmp_path / 'm.db'}")
    try:
        db.migrate()
        yield db.engine
    finally:
        db.close()
        if pg is not None:
            drop_pg_database(pg)


def test_a_failing_statements_parameters_never_reach_the_log(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    row = {"id": MARKER, "kms_status": "x", "created_at": 0}
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(insert(t.accounts), [row])
        conn.execute(insert(t.accounts), [row])  # SQLite: a duplicate primary key
    with caplog.at_level(logging.ERROR, logger="mamori"):
        try:
            raise RuntimeError("request failed") from info.value
        except RuntimeError:
            logging.getLogger("mamori.gateway.pop.app").exception("request %s failed", "R")
    assert "INSERT INTO accounts" in caplog.text  # the statement is still there to debug with
    assert MARKER not in caplog.text
    assert MARKER not in str(info.value)
