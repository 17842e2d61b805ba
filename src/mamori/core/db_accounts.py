"""Database accounts that Rds secrets manage: log in as an account, and change an account's
password, on PostgreSQL or MySQL/MariaDB.

A server is named by a URL without credentials (``postgresql://host:port/dbname`` or
``mysql://host:port``): it sits in the secret's ExtendedConfig, which is not secret. Passwords
are passed only as bound or driver-quoted literals and never reach Mamori's logs or error
messages. PostgreSQL gets a SCRAM verifier instead of the password, so its own statement log
cannot show one; MySQL/MariaDB statements carry the password, as their clients' do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from mamori.core.errors import InvalidInput

if TYPE_CHECKING:
    import psycopg

# The drivers are imported where an Rds secret uses them: a server that manages none (and
# every start of one) does without their ~100 ms import.

CONNECT_TIMEOUT: Final = 5
_ENGINES: Final = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306}


class AccountError(Exception):
    """A login or password change failed. The message never quotes a password."""


@dataclass(frozen=True, slots=True)
class Server:
    """Where a managed account lives."""

    engine: str  # "postgresql" or "mysql"
    host: str
    port: int
    database: str

    @classmethod
    def parse(cls, url: str) -> Server:
        """A server from its URL; credentials in the URL are refused, as the URL is public."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidInput("ExtendedConfig", "DBInstanceId is not a valid URL.") from None
        scheme = parts.scheme.lower()
        if scheme not in _ENGINES or not parts.hostname:
            raise InvalidInput(
                "ExtendedConfig",
                "DBInstanceId must be postgresql://host:port/dbname or mysql://host:port.",
            )
        if parts.username or parts.password:
            raise InvalidInput("ExtendedConfig", "DBInstanceId must not carry credentials.")
        engine = "mysql" if _ENGINES[scheme] == 3306 else "postgresql"
        database = parts.path.lstrip("/") or ("postgres" if engine == "postgresql" else "")
        return cls(engine, parts.hostname, port or _ENGINES[scheme], database)


@dataclass(frozen=True, slots=True)
class Account:
    """A database login."""

    name: str
    password: str

    def __repr__(self) -> str:
        return f"Account({self.name!r}, password=<redacted>)"


def can_log_in(server: Server, account: Account) -> bool:
    """Whether ``account`` logs in to ``server`` now."""
    try:
        _run(server, account, lambda _execute: None)
    except AccountError:
        return False
    return True


def change_password(server: Server, login: Account, target: str, password: str) -> None:
    """Log in as ``login`` and set ``target``'s password (``target`` may be ``login`` itself)."""
    if server.engine == "postgresql":
        from psycopg import sql

        with _postgresql(server, login) as conn:
            # Send the SCRAM verifier, not the password: PostgreSQL logs a failing statement
            # (and every DDL statement with log_statement=ddl) in full.
            verifier = conn.pgconn.encrypt_password(
                password.encode(), target.encode(), b"scram-sha-256"
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                    sql.Identifier(target), sql.Literal(verifier.decode("ascii"))
                )
            )
        return

    def mysql_change(execute: Execute) -> None:
        if target == login.name:
            # Changing one's own password needs no privilege, but the statement that does
            # it differs: MariaDB refuses ALTER USER without CREATE USER, MySQL 8 dropped
            # PASSWORD().
            ((version,),) = execute("SELECT VERSION()", None)
            if "mariadb" in str(version).lower():
                execute("SET PASSWORD = PASSWORD(%s)", (password,))
            else:
                execute("ALTER USER USER() IDENTIFIED BY %s", (password,))
            return
        hosts = execute("SELECT Host FROM mysql.user WHERE User = %s", (target,))
        if not hosts:
            raise AccountError(f"no account {target} on the server")
        for (host,) in hosts:
            execute("ALTER USER %s@%s IDENTIFIED BY %s", (target, host, password))

    _run(server, login, mysql_change)


Execute = Callable[[Any, "tuple[object, ...] | None"], list[tuple[Any, ...]]]
Work = Callable[[Execute], object]


def _run(server: Server, login: Account, work: Work) -> None:
    """Open a connection as ``login``, hand ``work`` an execute function, then close."""
    if server.engine == "postgresql":
        _run_postgresql(server, login, work)
    else:
        _run_mysql(server, login, work)


@contextmanager
def _postgresql(server: Server, login: Account) -> Iterator[psycopg.Connection[Any]]:
    """A connection as ``login``; any driver failure inside the block is an AccountError."""
    import psycopg

    try:
        with psycopg.connect(
            host=server.host,
            port=server.port,
            dbname=server.database,
            user=login.name,
            password=login.password,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
        ) as conn:
            yield conn
    except psycopg.Error as exc:
        # The driver's text can echo a statement, and a statement can hold a password.
        raise AccountError(f"PostgreSQL refused the request ({type(exc).__name__})") from None


def _run_postgresql(server: Server, login: Account, work: Work) -> None:
    with _postgresql(server, login) as conn:

        def execute(statement: Any, params: tuple[object, ...] | None) -> list[tuple[Any, ...]]:
            cursor = conn.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []

        work(execute)


def _run_mysql(server: Server, login: Account, work: Work) -> None:
    import pymysql

    try:
        conn = pymysql.connect(
            host=server.host,
            port=server.port,
            user=login.name,
            password=login.password,
            database=server.database or None,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
        )
    except pymysql.MySQLError as exc:
        raise AccountError(f"MySQL refused the login ({type(exc).__name__})") from None
    try:
        with conn.cursor() as cursor:

            def execute(statement: Any, params: tuple[object, ...] | None) -> list[tuple[Any, ...]]:
                cursor.execute(statement, params)
                return list(cursor.fetchall())

            work(execute)
    except pymysql.MySQLError as exc:
        raise AccountError(f"MySQL refused the request ({type(exc).__name__})") from None
    finally:
        conn.close()
