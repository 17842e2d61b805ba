"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, select

from mamori.store import schema as t
from mamori.store.database import Database
from mamori.store.engine import SchemaTooNew
from mamori.store.schema import metadata
from tests.conftest import ROOT, create_pg_database, drop_pg_database

MIGRATIONS = ROOT / "src" / "mamori" / "store" / "migrations"


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


def _sqlite_ddl(path: Path) -> dict[tuple[str, str], str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    # Alembic and SQLAlchemy quote and indent alike but not identically: compare the words.
    return {(k, n): " ".join((ddl or "").replace('"', "").split()) for k, n, ddl in rows}


def test_a_fresh_sqlite_store_gets_the_migrated_schema_without_alembic(tmp_path: Path) -> None:
    # A fresh SQLite store is made from the declared tables (no Alembic on the start path):
    # statement for statement the schema the migrations build, stamped with their head, so
    # every later migration finds what it would have found.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == t.REVISION
    migrated = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with migrated.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    migrated.dispose()
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh.migrate()
    fresh.migrate()  # at REVISION: nothing to do
    with fresh.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (t.REVISION,)
    fresh.close()
    assert _sqlite_ddl(tmp_path / "fresh.db") == _sqlite_ddl(tmp_path / "migrated.db")


def test_a_store_at_an_older_revision_is_still_migrated(database: Database) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012")
    database.migrate()
    with database.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (t.REVISION,)
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_a_store_from_a_newer_mamori_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaTooNew, match="revision 9999"):
        db.migrate()
    db.close()


def test_versions_existing_before_0008_keep_context_only_aad(database: Database) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, kms_status, created_at) VALUES ('1', 'Enabled', 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO keys (id, account_id, spec, usage, origin, protection_level, state,"
            " description, creator, dkms_instance_id, created_at, deletion_protection,"
            " deletion_protection_description, rotation_enabled)"
            " VALUES ('key-old', '1', 'Aliyun_AES_256', 'ENCRYPT/DECRYPT', 'Aliyun_KMS',"
            " 'SOFTWARE', 'Enabled', '', 'x', '', 0, false, '', false)"
        )
        conn.exec_driver_sql(
            "INSERT INTO key_versions (id, key_id, wrapped_material, created_at)"
            " VALUES ('v-old', 'key-old', X'00', 0)"
            if database.dialect == "sqlite"
            else "INSERT INTO key_versions (id, key_id, wrapped_material, created_at)"
            " VALUES ('v-old', 'key-old', '\\x00'::bytea, 0)"
        )
    database.migrate()
    with database.engine.begin() as conn:
        conn.execute(
            insert(t.key_versions).values(
                id="v-new", key_id="key-old", wrapped_material=b"\0", created_at=1, bound_aad=True
            )
        )
        rows = dict(conn.execute(select(t.key_versions.c.id, t.key_versions.c.bound_aad)).all())
    assert rows == {"v-old": False, "v-new": True}


def test_0009_puts_existing_keys_and_secrets_in_each_account_default_instance(
    database: Database,
) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
    with database.engine.begin() as conn:
        for account in ("1", "2"):
            conn.exec_driver_sql(
                "INSERT INTO accounts (id, kms_status, created_at)"
                f" VALUES ('{account}', 'Enabled', 0)"
            )
        # Before 0009 DKMSInstanceId was stored as given: an id that names no instance.
        for key, account, instance in (
            ("key-a", "1", ""),
            ("key-b", "1", "kst-made-up"),
            ("key-c", "2", ""),
        ):
            conn.exec_driver_sql(
                "INSERT INTO keys (id, account_id, spec, usage, origin, protection_level, state,"
                " description, creator, dkms_instance_id, created_at, deletion_protection,"
                " deletion_protection_description, rotation_enabled)"
                f" VALUES ('{key}', '{account}', 'Aliyun_AES_256', 'ENCRYPT/DECRYPT',"
                f" 'Aliyun_KMS', 'SOFTWARE', 'Enabled', '', 'x', '{instance}', 0, false, '',"
                " false)"
            )
        conn.exec_driver_sql(
            "INSERT INTO secrets (account_id, name, secret_type, description, encryption_key_id,"
            " secret_data_type, creator, rotation_enabled, created_at, updated_at)"
            " VALUES ('2', 's', 'Generic', '', 'key-c', 'text', 'x', false, 0, 0)"
        )
    database.migrate()
    with database.engine.begin() as conn:
        defaults = dict(conn.execute(select(t.kms_default_instances)).all())
        instances = {r.id: r for r in conn.execute(select(t.kms_instances)).all()}
        keys = dict(conn.execute(select(t.keys.c.id, t.keys.c.dkms_instance_id)).all())
        secret = conn.execute(select(t.secrets.c.dkms_instance_id)).scalar_one()
    assert set(defaults) == {"1", "2"} and defaults["1"] != defaults["2"]
    assert set(instances) == set(defaults.values())
    for account, instance_id in defaults.items():
        row = instances[instance_id]
        assert re.fullmatch(r"kst-[a-z0-9]{21}", instance_id)
        assert (row.account_id, row.status, row.spec) == (account, "Connected", 1000)
    assert keys == {"key-a": defaults["1"], "key-b": defaults["1"], "key-c": defaults["2"]}
    assert secret == defaults["2"]
