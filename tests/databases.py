"""Real database accounts for the Rds rotation tests, on the machine's PostgreSQL (127.0.0.1:5432)
and MariaDB (127.0.0.1:3306, root without a password).

PostgreSQL here trusts every local login, so a login proves nothing about a password; whether an
account has a password is read from its SCRAM verifier in ``pg_authid`` instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pymysql
from psycopg import sql

PG_URL = "postgresql://127.0.0.1:5432/postgres"
MYSQL_URL = "mysql://127.0.0.1:3306"
PG_ADMIN = {"AccountName": "postgres", "AccountPassword": ""}
MYSQL_ADMIN = {"AccountName": "root", "AccountPassword": ""}


def account_name(prefix: str = "mamori_t") -> str:
    """A fresh account name."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _pg() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
    )


def _mysql() -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)


@contextmanager
def pg_accounts(*accounts: tuple[str, str]) -> Iterator[None]:
    """PostgreSQL login roles with these (name, password)s, dropped afterwards."""
    with _pg() as conn:
        for name, password in accounts:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
    try:
        yield
    finally:
        with _pg() as conn:
            for name, _ in accounts:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@contextmanager
def mysql_accounts(*accounts: tuple[str, str]) -> Iterator[None]:
    """MariaDB accounts ``name@%`` with these (name, password)s, dropped afterwards."""
    conn = _mysql()
    try:
        with conn.cursor() as cursor:
            for name, password in accounts:
                cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
        yield
    finally:
        with conn.cursor() as cursor:
            for name, _ in accounts:
                cursor.execute("DROP USER IF EXISTS %s@'%%'", (name,))
        conn.close()


def pg_has_password(name: str, password: str) -> bool:
    """Whether the role's SCRAM-SHA-256 verifier is for ``password``."""
    with _pg() as conn:
        row = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,)
        ).fetchone()
    assert row is not None and isinstance(row[0], str), "no such role"
    scheme, rest = row[0].split("$", 1)
    assert scheme == "SCRAM-SHA-256"
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def mysql_logs_in(name: str, password: str) -> bool:
    """Whether ``name`` logs in to MariaDB with ``password``."""
    try:
        pymysql.connect(host="127.0.0.1", port=3306, user=name, password=password).close()
    except pymysql.err.OperationalError:
        return False
    return True


def has_password(engine: str, name: str, password: str) -> bool:
    """Whether the account's password on ``engine`` ("postgresql" or "mysql") is ``password``."""
    if engine == "postgresql":
        return pg_has_password(name, password)
    return mysql_logs_in(name, password)


@contextmanager
def accounts(engine: str, *pairs: tuple[str, str]) -> Iterator[None]:
    """Accounts on ``engine`` for the length of the block."""
    with pg_accounts(*pairs) if engine == "postgresql" else mysql_accounts(*pairs):
        yield


def set_password(engine: str, name: str, password: str) -> None:
    """Change an account's password behind Mamori's back."""
    if engine == "postgresql":
        with _pg() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
        return
    conn = _mysql()
    try:
        with conn.cursor() as cursor:
            cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (name, password))
    finally:
        conn.close()
