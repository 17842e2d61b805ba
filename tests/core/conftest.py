"""Core services on a real store (SQLite and PostgreSQL) with a clock the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.app import Services, bootstrap, build_services
from mamori.config import Settings
from mamori.core.refs import Scope
from tests.conftest import create_pg_database, drop_pg_database


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """The services' clock."""
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgres"])
def services(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Services]:
    """Every core service over a fresh store."""
    pg = None
    if request.param == "postgres":
        pg = create_pg_database()
        url = pg.url
    else:
        url = f"sqlite:///{tmp_path / 'mamori.db'}"
    settings = Settings(data_dir=tmp_path, store_url=url)
    built = build_services(settings, clock=clock)
    bootstrap(built, settings)
    try:
        yield built
    finally:
        built.db.close()
        if pg is not None:
            drop_pg_database(pg)


@pytest.fixture
def scope() -> Scope:
    """The default account in the default region."""
    return Scope("cn-hangzhou", Settings().account_id)
