"""An HSM key's material is nowhere outside the token: the store holds only a reference to the
token object, and the same store with a token that lacks the key cannot decrypt."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km
from sqlalchemy import create_engine, select

from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.sdk import b64, expect_error, new_sdk
from tests.conftest import ServerProcess, _store_url, drop_pg_database, free_port
from tests.hsm.softhsm import make_token
from tests.store.test_at_rest import _raw_files


def _version_rows(server: ServerProcess, key_id: str) -> list[tuple[str, bytes]]:
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.key_versions.c.id, t.key_versions.c.wrapped_material).where(
                t.key_versions.c.key_id == key_id
            )
        ).all()
    engine.dispose()
    return [(r.id, bytes(r.wrapped_material)) for r in rows]


def test_hsm_key_material_is_not_in_the_store(backend: str, tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm")
    url, pg = _store_url(backend, tmp_path)
    proc = ServerProcess(
        backend, tmp_path / "data", url, free_port(), free_port(), env=token.server_env()
    )
    try:
        proc.start()
        kms = new_sdk(proc.endpoint, proc.access_key_id, proc.access_key_secret)
        hsm = kms.create_key(km.CreateKeyRequest(protection_level="HSM")).body.key_metadata.key_id
        kms.create_key_version(km.CreateKeyVersionRequest(key_id=hsm))
        software = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        sentinel = b"mamori-hsm-sentinel-" + os.urandom(8).hex().encode()
        hsm_blob = kms.encrypt(km.EncryptRequest(key_id=hsm, plaintext=b64(sentinel))).body
        soft_blob = kms.encrypt(km.EncryptRequest(key_id=software, plaintext=b64(b"sw"))).body

        # Each HSM version's row is exactly a reference to its token object: no material,
        # wrapped or not, and nothing the keyring (the root of all software material) opens.
        rows = _version_rows(proc, hsm)
        assert len(rows) == 2
        root = KeyMaterial((proc.data_dir / "root.key").read_bytes())
        engine = create_engine(normalize_url(url))
        with engine.connect() as conn:
            ring = Keyring(root, conn.execute(select(t.keyring.c.version, t.keyring.c.wrapped_dek)))
        engine.dispose()
        for version_id, stored in rows:
            assert stored == f"pkcs11:mamori/key/{hsm}/{version_id}".encode()
            with pytest.raises(DecryptionFailed):
                ring.unwrap(stored, f"key/{hsm}/{version_id}".encode())
        for path in _raw_files(proc):
            assert sentinel not in path.read_bytes(), path
        proc.stop()

        # The same store and root key with a token that lacks the key: the software key still
        # works, the HSM key's blobs cannot be opened by anyone (503, the token is the only way).
        empty = make_token(tmp_path / "empty", label=token.label)
        proc.env = empty.server_env()
        proc.start()
        kms = new_sdk(proc.endpoint, proc.access_key_id, proc.access_key_secret)
        out = kms.decrypt(km.DecryptRequest(ciphertext_blob=soft_blob.ciphertext_blob)).body
        assert base64.b64decode(out.plaintext) == b"sw"
        expect_error(
            "ServiceUnavailableTemporary",
            503,
            lambda: kms.decrypt(km.DecryptRequest(ciphertext_blob=hsm_blob.ciphertext_blob)),
        )
    finally:
        if proc.process is not None and proc.process.poll() is None:
            proc.stop()
        if pg is not None:
            drop_pg_database(pg)
