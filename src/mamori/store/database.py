"""The store handle ``core`` and ``iam`` use: one engine, transactions, and the clock's epoch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from mamori.store.engine import READ_ONLY, migrate, open_engine


class Database:
    """Owns the engine. ``begin()`` is one all-or-nothing transaction; ``read()`` a plain one."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url)
        self.dialect = self.engine.dialect.name

    def migrate(self) -> None:
        """Apply pending schema migrations."""
        migrate(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only unit of work (on SQLite it does not take the write lock)."""
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn

    def close(self) -> None:
        """Close every pooled connection (SQLite checkpoints its WAL on the last close)."""
        self.engine.dispose()
