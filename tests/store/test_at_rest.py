"""Nothing secret is stored in the clear: the raw database files are scanned for key material,
the AccessKey secret and a plaintext that went through Encrypt."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import psycopg
from alibabacloud_kms20160120 import models as km
from sqlalchemy import create_engine, select

from mamori.crypto.material import KeyMaterial
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.instance_helpers import call, generic
from tests.compat.sdk import new_sdk
from tests.conftest import PG_ADMIN_URL, ServerProcess


def _material(server: ServerProcess) -> list[bytes]:
    """Unwrap every key version offline with the root key file, as an operator could."""
    root = KeyMaterial((server.data_dir / "root.key").read_bytes())
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        ring = Keyring(root, conn.execute(select(t.keyring.c.version, t.keyring.c.wrapped_dek)))
        rows = conn.execute(
            select(t.key_versions.c.id, t.key_versions.c.key_id, t.key_versions.c.wrapped_material)
        ).all()
    engine.dispose()
    return [
        ring.unwrap(r.wrapped_material, f"key/{r.key_id}/{r.id}".encode()).reveal() for r in rows
    ]


def _certificate_keys(server: ServerProcess) -> list[bytes]:
    """Every certificate's private key, unwrapped offline as an operator could."""
    root = KeyMaterial((server.data_dir / "root.key").read_bytes())
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        ring = Keyring(root, conn.execute(select(t.keyring.c.version, t.keyring.c.wrapped_dek)))
        rows = conn.execute(select(t.certificates.c.id, t.certificates.c.wrapped_private_key)).all()
    engine.dispose()
    return [
        ring.unwrap(r.wrapped_private_key, f"certificate/{r.id}".encode()).reveal() for r in rows
    ]


def _audit_key(server: ServerProcess) -> bytes:
    """The deployment's audit key (the HMAC key of the audit chains), unwrapped offline."""
    root = KeyMaterial((server.data_dir / "root.key").read_bytes())
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        ring = Keyring(root, conn.execute(select(t.keyring.c.version, t.keyring.c.wrapped_dek)))
        (wrapped,) = conn.execute(select(t.audit_key.c.wrapped_key)).scalars().all()
    engine.dispose()
    return ring.unwrap(wrapped, b"mamori/audit-key").reveal()


def _raw_files(server: ServerProcess) -> list[Path]:
    if server.backend == "sqlite":
        return [p for p in server.data_dir.glob("mamori.db*") if p.is_file()]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("CHECKPOINT")
        data_dir = Path(admin.execute("SHOW data_directory").fetchone()[0])  # type: ignore[index]
    files = []
    with psycopg.connect(server.store_url, autocommit=True) as conn:
        for table in (
            "keyring",
            "access_keys",
            "keys",
            "key_versions",
            "aliases",
            "tags",
            "secrets",
            "secret_versions",
            "secret_version_stages",
            "kms_instances",
            "kms_default_instances",
            "aap_network_rules",
            "aap_policies",
            "aap_policy_rules",
            "aap_access_points",
            "aap_access_point_policies",
            "aap_client_keys",
            "certificates",
            "managed_data_keys",
            "managed_data_key_versions",
            "audit_key",
        ):
            rel = conn.execute("SELECT pg_relation_filepath(%s)", (table,)).fetchone()
            assert rel is not None
            files.extend(sorted(data_dir.glob(rel[0] + "*")))
            toast = conn.execute(
                "SELECT pg_relation_filepath(reltoastrelid) FROM pg_class "
                "WHERE relname = %s AND reltoastrelid <> 0",
                (table,),
            ).fetchone()
            if toast and toast[0]:
                files.extend(sorted(data_dir.glob(toast[0] + "*")))
    return files


def test_no_secret_is_stored_in_the_clear(fresh_server: ServerProcess) -> None:
    kms = new_sdk(fresh_server.endpoint, fresh_server.access_key_id, fresh_server.access_key_secret)
    sentinel = b"mamori-plaintext-sentinel-" + os.urandom(8).hex().encode()
    ciphertexts = []
    for spec in ("Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_SM4"):
        key_id = kms.create_key(km.CreateKeyRequest(key_spec=spec)).body.key_metadata.key_id
        kms.create_key_version(km.CreateKeyVersionRequest(key_id=key_id))
        sealed = kms.encrypt(
            km.EncryptRequest(key_id=key_id, plaintext=base64.b64encode(sentinel).decode())
        )
        ciphertexts.append(sealed.body.ciphertext_blob.encode())
    # Private keys (PKCS#8 DER, or SM2's 96-byte layout) and HMAC keys are wrapped the same way.
    for spec in ("RSA_2048", "EC_P256", "EC_SM2", "EC_ED25519", "HMAC_SHA_256"):
        kms.create_key(km.CreateKeyRequest(key_spec=spec))
    # A key placed in an instance by name is stored as any other.
    instance = kms.get_default_kms_instance().body.default_kms_instance_id
    kms.create_key(km.CreateKeyRequest(dkmsinstance_id=instance))

    # Certificates' private keys are keyring-wrapped; managed data keys are sealed blobs.
    admin = generic(fresh_server)
    for spec in ("RSA_2048", "EC_P256", "EC_SM2"):
        call(admin, "CreateCertificate", Subject="CN=a,OU=b,O=c,C=CN", KeySpec=spec)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    call(admin, "CreateManagedDataKey", DataKeyName="at-rest", KeyId=key_id)
    call(admin, "RotateManagedDataKey", DataKeyName="at-rest")
    data_keys = [
        base64.b64decode(
            kms.get_managed_data_key(
                km.GetManagedDataKeyRequest(data_key_name="at-rest", use_latest=latest)
            ).body.plaintext
        )
        for latest in (False, True)
    ]

    materials = _material(fresh_server) + _certificate_keys(fresh_server) + data_keys
    assert len(materials) == 13 + 3 + 2
    files = _raw_files(fresh_server)
    assert files, "found no database files to scan"
    raw = b"".join(p.read_bytes() for p in files)
    assert len(raw) > 4096
    # The scan can see what is there: the key ids are stored in the clear.
    assert b"key-" in raw
    # The audit log too: every request above has a record, each naming a key or action.
    audit = b"".join(p.read_bytes() for p in (fresh_server.data_dir / "audit").rglob("*.jsonl"))
    assert b'"action":"Encrypt"' in audit and b'"action":"GetManagedDataKey"' in audit
    raw += audit
    # And the server's log.
    raw += fresh_server.log_path.read_bytes()

    audit_key = _audit_key(fresh_server)
    assert len(audit_key) == 32
    materials.append(audit_key)
    needles = {
        "access key secret": fresh_server.access_key_secret.encode(),
        "plaintext": sentinel,
        "root key": (fresh_server.data_dir / "root.key").read_bytes(),
    }
    for i, ciphertext in enumerate(ciphertexts):
        needles[f"ciphertext {i}"] = ciphertext
    for i, material in enumerate(materials):
        needles[f"key material {i}"] = material
        needles[f"key material {i} (base64)"] = base64.b64encode(material)
        needles[f"key material {i} (hex)"] = material.hex().encode()
    for what, needle in needles.items():
        assert needle not in raw, f"{what} is stored in the clear"


def test_key_files_are_private(fresh_server: ServerProcess) -> None:
    data = fresh_server.data_dir
    for name in ("root.key", "admin.credentials", "tls/ca.key", "tls/server.key"):
        assert (data / name).stat().st_mode & 0o077 == 0, name
    if fresh_server.backend == "sqlite":
        assert (data / "mamori.db").stat().st_mode & 0o077 == 0
