"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mamori.store.database import Database
from mamori.store.schema import metadata
from tests.conftest import create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    pg = create_pg_database() if request.param == "postgres" else None
    db = Database(pg.url if pg else f"sqlite:///{tmp_path / 'm.db'}")
    try:
        yield db
    finally:
        db.close()
        if pg is not None:
            drop_pg_database(pg)


def test_migrated_schema_matches_the_declared_tables(database: Database) -> None:
    database.migrate()
    database.migrate()  # idempotent: a second start changes nothing
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
