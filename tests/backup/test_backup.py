"""``mamori backup`` of a running server and ``mamori restore`` into a new data dir, on SQLite
and PostgreSQL: old ciphertexts and secrets open after a restore with the root key given
separately; without it the server refuses to start; the archive never holds the root key."""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

from alibabacloud_kms20160120 import models as km

from tests.audit.helpers import find, verified
from tests.compat.sdk import new_sdk
from tests.conftest import (
    ROOT,
    PgDatabase,
    ServerProcess,
    create_pg_database,
    drop_pg_database,
    free_port,
)

CONTEXT = {"app": "backup"}


def mamori(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``mamori`` command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _store_args(server: ServerProcess) -> list[str]:
    return ["--data-dir", str(server.data_dir), "--store-url", server.store_url]


def test_a_restore_opens_old_ciphertexts_and_secrets(
    fresh_server: ServerProcess, tmp_path: Path
) -> None:
    kms = new_sdk(fresh_server.endpoint, fresh_server.access_key_id, fresh_server.access_key_secret)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    blob = kms.encrypt(
        km.EncryptRequest(
            key_id=key_id,
            plaintext=base64.b64encode(b"kept in the backup").decode(),
            encryption_context=CONTEXT,
        )
    ).body.ciphertext_blob
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name="db-password",
            secret_data="s3cret-value",
            version_id="v1",
            encryption_key_id=key_id,
        )
    )
    archive = tmp_path / "backup.tar.gz"
    made = mamori("backup", *_store_args(fresh_server), str(archive))  # while it serves
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == (
        "The root key is NOT in this backup. Keep a copy of root.key (or the PKCS#11 token) "
        "separately: without it this backup opens nothing."
    )
    root_key = fresh_server.data_dir / "root.key"
    unpacked = gzip.decompress(archive.read_bytes())
    assert root_key.read_bytes() not in unpacked
    assert fresh_server.access_key_secret.encode() not in unpacked
    kept_root = tmp_path / "kept-root.key"
    shutil.copy(root_key, kept_root)
    kept_credentials = tmp_path / "kept.credentials"
    shutil.copy(fresh_server.data_dir / "admin.credentials", kept_credentials)
    fresh_server.stop()

    pg = create_pg_database() if fresh_server.backend == "postgres" else None
    try:
        restored = _restored_server(fresh_server, tmp_path / "restored", pg)
        done = mamori("restore", *_store_args(restored), str(archive))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == (
            f"The root key was not in the backup: copy it to {restored.data_dir / 'root.key'} "
            "(mode 0600) before mamori server, which refuses to start without it."
        )
        started = mamori("server", *_store_args(restored), "--port", str(restored.port))
        assert started.returncode == 3
        assert started.stderr.strip() == (
            f"mamori: cannot start: root key missing: {restored.data_dir / 'root.key'} does "
            "not exist, but the store already holds a keyring sealed by it (restore the file "
            "from your backup)"
        )
        shutil.copy(kept_root, restored.data_dir / "root.key")
        # Nor is the administrator's credentials file: its AccessKey secret is in clear. The
        # operator keeps their copy; the restored store holds the same key.
        shutil.copy(kept_credentials, restored.data_dir / "admin.credentials")
        restored.start()
        try:
            kms = new_sdk(restored.endpoint, restored.access_key_id, restored.access_key_secret)
            plain = kms.decrypt(
                km.DecryptRequest(ciphertext_blob=blob, encryption_context=CONTEXT)
            ).body.plaintext
            assert base64.b64decode(plain) == b"kept in the backup"
            value = kms.get_secret_value(km.GetSecretValueRequest(secret_name="db-password"))
            assert value.body.secret_data == "s3cret-value"
            # The same CA: clients that trust the old ca.pem trust the restored server.
            assert restored.ca_file.read_bytes() == fresh_server.ca_file.read_bytes()
        finally:
            restored.stop()
        # The audit chains came along, as they stood, and the restored node continued them.
        # Keyed: the restored store holds the same audit key, so every MAC checks.
        assert "OK" in verified(restored.data_dir, "--store-url", restored.store_url)
        assert find(restored.data_dir, "--key", key_id, "--action", "Encrypt")
        assert find(restored.data_dir, "--action", "Decrypt", "--key", key_id)
    finally:
        if pg is not None:
            drop_pg_database(pg)


def _restored_server(old: ServerProcess, data_dir: Path, pg: PgDatabase | None) -> ServerProcess:
    url = pg.url if pg is not None else f"sqlite:///{data_dir / 'mamori.db'}"
    proc = ServerProcess(old.backend, data_dir, url, free_port(), free_port())
    data_dir.parent.mkdir(exist_ok=True)
    return proc


def test_restore_refuses_a_non_empty_data_dir_and_a_wrong_root_key(
    fresh_server: ServerProcess, tmp_path: Path
) -> None:
    if fresh_server.backend != "sqlite":
        return  # the refusals do not depend on the store; one backend is enough
    archive = tmp_path / "b.tar.gz"
    assert mamori("backup", *_store_args(fresh_server), str(archive)).returncode == 0

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    done = mamori("restore", "--data-dir", str(busy), str(archive))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"mamori: restore: {busy} is not empty: restore only into a new data dir"
    )
    assert sorted(p.name for p in busy.iterdir()) == ["something"]

    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    wrong.chmod(0o600)
    target = tmp_path / "new"
    done = mamori("restore", "--data-dir", str(target), "--root-key-file", str(wrong), str(archive))
    assert done.returncode == 3
    assert done.stderr.strip() == (
        f"mamori: restore: {wrong} does not open the keyring of this backup (the root key of "
        "another store, or of before a rotate-root?)"
    )
    assert not target.exists()

    done = mamori("restore", "--data-dir", str(target), str(tmp_path / "missing.tar.gz"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"mamori: restore: {tmp_path / 'missing.tar.gz'} does not exist"

    again = mamori("backup", *_store_args(fresh_server), str(archive))
    assert again.returncode == 2
    assert again.stderr.strip() == f"mamori: backup: {archive} already exists"
