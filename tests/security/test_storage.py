"""Storage and the root of trust (issue 9, items 16–18), against real ``mamori`` processes:
deleted material leaves no trace in the SQLite files, a missing root key stops the start, the
root key rotates (also across an interrupted rotation), and a ciphertext's key-version header
cannot be rewritten to open it under another key that holds the same imported material."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from sqlalchemy import create_engine, select, update

from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.sdk import b64, new_sdk
from tests.compat.test_key_import import import_material
from tests.conftest import ROOT, ServerProcess
from tests.store.test_at_rest import _raw_files

START_FAILED = 3


def _admin(server: ServerProcess) -> Client:
    return new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)


def _last_line(text: str) -> str:
    """The message a command ends with (start-up logs precede it)."""
    return text.strip().splitlines()[-1]


def _mamori(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``mamori`` command."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MAMORI_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", *args],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.2)


def _select(server: ServerProcess, query: object) -> list[object]:
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        rows = list(conn.execute(query))  # type: ignore[call-overload]
    engine.dispose()
    return rows


def _write(server: ServerProcess, statement: object) -> None:
    engine = create_engine(normalize_url(server.store_url))
    with engine.begin() as conn:
        conn.execute(statement)  # type: ignore[call-overload]
    engine.dispose()


# -- 16: deleted material leaves the SQLite files ------------------------------------------------


@pytest.fixture
def sqlite_server(backend: str, request: pytest.FixtureRequest) -> ServerProcess:
    """A fresh server on SQLite; PostgreSQL keeps dead tuples until VACUUM
    (docs/security.md), so these scans do not apply to it."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL keeps dead tuples until VACUUM (docs/security.md)")
    server: ServerProcess = request.getfixturevalue("fresh_server")
    return server


def _traces(server: ServerProcess, needles: dict[str, bytes]) -> list[str]:
    raw = b"".join(p.read_bytes() for p in _raw_files(server))
    assert server.access_key_id.encode() in raw  # the scan sees the files' content
    return [what for what, needle in needles.items() if needle in raw]


def _wrapped_material(server: ServerProcess, key_id: str) -> bytes:
    rows = _select(
        server,
        select(t.key_versions.c.wrapped_material).where(t.key_versions.c.key_id == key_id),
    )
    assert len(rows) == 1
    wrapped = bytes(rows[0][0])  # type: ignore[index]
    assert len(wrapped) > 32
    return wrapped


def test_a_deleted_key_leaves_no_wrapped_material_in_the_sqlite_files(
    sqlite_server: ServerProcess,
) -> None:
    fresh_server = sqlite_server
    kms = _admin(fresh_server)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext=b64(b"x")))
    wrapped = _wrapped_material(fresh_server, key_id)
    assert _traces(fresh_server, {"wrapped": wrapped}) == ["wrapped"]  # the scan finds it

    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    # Seven days are too long to wait: move the deletion date into the past; the jobs delete.
    _write(
        fresh_server,
        update(t.keys).where(t.keys.c.id == key_id).values(delete_at=int(time.time()) - 1),
    )
    _eventually(
        lambda: not _select(fresh_server, select(t.keys.c.id).where(t.keys.c.id == key_id)),
        "the jobs did not delete the key",
    )
    _eventually(
        lambda: _traces(fresh_server, {"wrapped": wrapped}) == [],
        "the deleted key's wrapped material is still in mamori.db, -wal or -shm",
    )


def test_deleted_key_material_and_a_force_deleted_secret_leave_no_trace(
    sqlite_server: ServerProcess,
) -> None:
    fresh_server = sqlite_server
    kms = _admin(fresh_server)
    external = kms.create_key(km.CreateKeyRequest(origin="EXTERNAL")).body.key_metadata.key_id
    import_material(kms, external, os.urandom(32))
    kms.encrypt(km.EncryptRequest(key_id=external, plaintext=b64(b"x")))
    kms.create_secret(
        km.CreateSecretRequest(secret_name="erase-me", version_id="v1", secret_data="s" * 40)
    )
    sealed = _select(
        fresh_server,
        select(t.secret_versions.c.wrapped_value).where(
            t.secret_versions.c.secret_name == "erase-me"
        ),
    )
    needles = {
        "imported material (wrapped)": _wrapped_material(fresh_server, external),
        "secret value (sealed)": str(sealed[0][0]).encode(),  # type: ignore[index]
    }
    assert sorted(_traces(fresh_server, needles)) == sorted(needles)

    kms.delete_key_material(km.DeleteKeyMaterialRequest(key_id=external))
    kms.delete_secret(
        km.DeleteSecretRequest(secret_name="erase-me", force_delete_without_recovery="true")
    )
    _eventually(
        lambda: _traces(fresh_server, needles) == [],
        f"still on disk: {_traces(fresh_server, needles)}",
    )
