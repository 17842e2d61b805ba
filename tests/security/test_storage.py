"""Storage and the root of trust (issue 9, items 16–18), against real ``mamori`` processes:
deleted material leaves no trace in the SQLite files, a missing root key stops the start, the
root key rotates (also across an interrupted rotation), and a ciphertext's key-version header
cannot be rewritten to open it under another key that holds the same imported material."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sm
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import create_engine, select, update

from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.ram_helpers import allow, doc, grant, new_user
from tests.compat.sdk import b64, expect_error, new_sdk, ram_sdk
from tests.compat.test_key_import import import_material
from tests.compat.test_sts import ram_policy, ram_role, sts_sdk
from tests.conftest import ROOT, ServerProcess, free_port
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


# -- 17: the root key is never silently replaced, and it rotates ------------------------------


def _start_refused(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    return _mamori(
        "server",
        "--data-dir",
        str(server.data_dir),
        "--store-url",
        server.store_url,
        "--port",
        str(free_port()),
        "--tls-port",
        "0",
    )


def test_a_missing_root_key_stops_the_start_instead_of_being_recreated(
    fresh_server: ServerProcess,
) -> None:
    root = fresh_server.data_dir / "root.key"
    fresh_server.stop()
    root.unlink()

    done = _start_refused(fresh_server)

    assert done.returncode == START_FAILED, done.stdout + done.stderr
    assert _last_line(done.stderr) == (
        f"mamori: cannot start: root key missing: {root} does not exist, but the store already "
        "holds a keyring sealed by it (restore the file from your backup)"
    )
    assert not root.exists()


def _rotate(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    return _mamori(
        "operator",
        "rotate-root",
        "--data-dir",
        str(server.data_dir),
        "--store-url",
        server.store_url,
    )


def _opens_keyring(server: ServerProcess, root: bytes) -> bool:
    rows = _select(server, select(t.keyring.c.version, t.keyring.c.wrapped_dek))
    try:
        Keyring(KeyMaterial(root), rows)  # type: ignore[arg-type]
    except DecryptionFailed:
        return False
    return True


class _World:
    """Keys, a secret, a RAM user's AccessKey and an STS token made before a rotation; ``check``
    proves each still decrypts or authenticates."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        kms = _admin(server)
        ram = ram_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        self.keys = {}
        for spec in ("Aliyun_AES_256", "Aliyun_SM4", "RSA_2048"):
            self.keys[spec] = kms.create_key(km.CreateKeyRequest(key_spec=spec)).body.key_metadata
        aes = self.keys["Aliyun_AES_256"].key_id
        self.blob = kms.encrypt(km.EncryptRequest(key_id=aes, plaintext=b64(b"before"))).body
        kms.create_secret(
            km.CreateSecretRequest(secret_name="rotation", version_id="v1", secret_data="kept")
        )
        self.user = new_user(server, ram, "rotor")
        grant(ram, self.user.name, doc(allow(["kms:*", "sts:AssumeRole"])))
        account = self.user.arn.split(":")[3]
        trust = doc(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"RAM": [f"acs:ram::{account}:root"]},
            }
        )
        role = ram_role(ram, f"rotor-{os.urandom(4).hex()}", trust)
        ram_policy(ram, f"rotor-{os.urandom(4).hex()}", doc(allow("kms:*")), "Role", role.role_name)
        creds = (
            sts_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
            .assume_role(sm.AssumeRoleRequest(role_arn=role.arn, role_session_name="rotor"))
            .body.credentials
        )
        self.temp = (creds.access_key_id, creds.access_key_secret, creds.security_token)

    def check(self) -> None:
        kms = _admin(self.server)
        plain = kms.decrypt(km.DecryptRequest(ciphertext_blob=self.blob.ciphertext_blob)).body
        assert base64.b64decode(plain.plaintext) == b"before"
        sm4 = self.keys["Aliyun_SM4"].key_id
        sealed = kms.encrypt(km.EncryptRequest(key_id=sm4, plaintext=b64(b"sm4"))).body
        assert kms.decrypt(km.DecryptRequest(ciphertext_blob=sealed.ciphertext_blob)).body
        rsa = self.keys["RSA_2048"].key_id
        version = kms.list_key_versions(km.ListKeyVersionsRequest(key_id=rsa)).body
        kms.asymmetric_sign(
            km.AsymmetricSignRequest(
                key_id=rsa,
                key_version_id=version.key_versions.key_version[0].key_version_id,
                algorithm="RSA_PSS_SHA_256",
                digest=b64(bytes(32)),
            )
        )
        value = kms.get_secret_value(km.GetSecretValueRequest(secret_name="rotation")).body
        assert value.secret_data == "kept"
        # The RAM user's AccessKey and the STS token made before the rotation still sign.
        self.user.kms.describe_key(km.DescribeKeyRequest(key_id=sm4))
        ak, secret, token = self.temp
        temp = new_sdk(self.server.endpoint, ak, secret, security_token=token)
        temp.describe_key(km.DescribeKeyRequest(key_id=sm4))


def test_rotate_root_rewraps_the_keyring_and_everything_still_opens(
    fresh_server: ServerProcess,
) -> None:
    world = _World(fresh_server)
    root = fresh_server.data_dir / "root.key"
    old = root.read_bytes()
    fresh_server.stop()

    done = _rotate(fresh_server)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Rotated the root key: {root} is new and seals the keyring's ")
    new = root.read_bytes()
    assert len(new) == 32 and new != old
    assert root.stat().st_mode & 0o777 == 0o600
    assert not (fresh_server.data_dir / "root.key.new").exists()
    assert not _opens_keyring(fresh_server, old)
    assert _opens_keyring(fresh_server, new)
    fresh_server.start()
    world.check()

    # Again, with the server running: it keeps the keyring's DEKs in memory and goes on.
    assert _rotate(fresh_server).returncode == 0
    assert not _opens_keyring(fresh_server, new)
    world.check()
    fresh_server.restart()
    world.check()


def test_rotate_root_survives_an_interrupted_rotation(fresh_server: ServerProcess) -> None:
    kms = _admin(fresh_server)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    blob = kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext=b64(b"safe"))).body
    root = fresh_server.data_dir / "root.key"
    pending = fresh_server.data_dir / "root.key.new"
    old = root.read_bytes()
    fresh_server.stop()
    assert _rotate(fresh_server).returncode == 0
    new = root.read_bytes()

    def decrypts() -> None:
        plain = _admin(fresh_server).decrypt(
            km.DecryptRequest(ciphertext_blob=blob.ciphertext_blob)
        )
        assert base64.b64decode(plain.body.plaintext) == b"safe"

    def put(path: Path, raw: bytes) -> None:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, raw)
        os.close(fd)

    # Killed after the commit, before the rename: root.key is the old key, root.key.new the
    # one the store is sealed by. The server starts with the pending key; rotate-root finishes.
    put(root, old)
    put(pending, new)
    fresh_server.start()
    decrypts()
    fresh_server.stop()
    done = _rotate(fresh_server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Finished an interrupted rotation first")
    assert not pending.exists() and root.read_bytes() not in (old, new)
    assert _opens_keyring(fresh_server, root.read_bytes())

    # Killed before the commit: root.key.new seals nothing; root.key still opens the store.
    current = root.read_bytes()
    put(pending, os.urandom(32))
    fresh_server.start()
    decrypts()
    done = _rotate(fresh_server)  # while running
    assert done.returncode == 0, done.stderr
    assert not done.stdout.startswith("Finished")
    assert not pending.exists() and root.read_bytes() != current
    fresh_server.restart()
    decrypts()


def test_rotate_root_refuses_the_pkcs11_seal_and_a_wrong_root_key(
    fresh_server: ServerProcess,
) -> None:
    root = fresh_server.data_dir / "root.key"
    before = root.read_bytes()
    done = _mamori(
        "operator",
        "rotate-root",
        "--data-dir",
        str(fresh_server.data_dir),
        "--store-url",
        fresh_server.store_url,
        env={"MAMORI_SEAL_PROVIDER": "pkcs11", "MAMORI_HSM_TOKEN_LABEL": "nowhere"},
    )
    assert done.returncode == 2
    assert _last_line(done.stderr) == (
        'mamori: rotate-root: seal_provider = "pkcs11": the root key is a key in the PKCS#11 '
        "token, and rotating it is not implemented (docs/hsm.md); nothing was changed"
    )

    root.unlink()
    fd = os.open(root, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    done = _rotate(fresh_server)
    assert done.returncode == 3
    assert _last_line(done.stderr) == (
        "mamori: rotate-root: the root key does not open the keyring (wrong root key file or "
        "token?); nothing was changed"
    )
    assert not (fresh_server.data_dir / "root.key.new").exists()
    root.unlink()
    fd = os.open(root, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, before)
    os.close(fd)


# -- 18: a blob's key-version header is bound to its ciphertext --------------------------------


def _swap_header(blob: str, version_id: str) -> str:
    raw = base64.b64decode(blob)
    return b64(version_id.encode("ascii") + raw[36:])


def test_a_rewritten_version_header_does_not_open_another_keys_ciphertext(
    server: ServerProcess, kms: Client, ram: RamClient
) -> None:
    # Keys A and B were given the same imported material; the attacker may Decrypt with B only.
    material = os.urandom(32)
    key_a, key_b = (
        kms.create_key(km.CreateKeyRequest(origin="EXTERNAL")).body.key_metadata.key_id
        for _ in range(2)
    )
    import_material(kms, key_a, material)
    import_material(kms, key_b, material)
    attacker = new_user(server, ram, "swapper")
    arn_b = f"acs:kms:cn-hangzhou:{attacker.arn.split(':')[3]}:key/{key_b}"
    grant(ram, attacker.name, doc(allow("kms:Decrypt", arn_b)))
    secret_a = kms.encrypt(km.EncryptRequest(key_id=key_a, plaintext=b64(b"A's data"))).body
    version_b = kms.encrypt(km.EncryptRequest(key_id=key_b, plaintext=b64(b"B"))).body
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: attacker.kms.decrypt(km.DecryptRequest(ciphertext_blob=secret_a.ciphertext_blob)),
    )

    forged = _swap_header(secret_a.ciphertext_blob, version_b.key_version_id)

    error = expect_error(
        "InvalidParameter",
        400,
        lambda: attacker.kms.decrypt(km.DecryptRequest(ciphertext_blob=forged)),
    )
    assert "CiphertextBlob" in str(error.message)
    # B's own ciphertexts still open for the attacker: only the forgery is refused.
    own = attacker.kms.decrypt(km.DecryptRequest(ciphertext_blob=version_b.ciphertext_blob))
    assert base64.b64decode(own.body.plaintext) == b"B"


def test_versions_made_before_the_binding_keep_their_ciphertexts(
    server: ServerProcess, kms: Client
) -> None:
    material = os.urandom(32)
    key_id = kms.create_key(km.CreateKeyRequest(origin="EXTERNAL")).body.key_metadata.key_id
    import_material(kms, key_id, material)
    (version_id,) = (
        row[0]  # type: ignore[index]
        for row in _select(
            server, select(t.key_versions.c.id).where(t.key_versions.c.key_id == key_id)
        )
    )
    # As migration 0008 leaves a version that existed before it (never used since the import,
    # so no server has it cached yet).
    _write(
        server,
        update(t.key_versions).where(t.key_versions.c.id == version_id).values(bound_aad=False),
    )
    context = {"app": "legacy"}
    context_aad = hashlib.sha256(b"app=legacy").hexdigest().encode()
    iv = os.urandom(12)
    # A blob exactly as the server made it before the binding: AAD = the context alone.
    old = b64(version_id.encode() + iv + AESGCM(material).encrypt(iv, b"old data", context_aad))

    plain = kms.decrypt(km.DecryptRequest(ciphertext_blob=old, encryption_context=context))
    assert base64.b64decode(plain.body.plaintext) == b"old data"
    # Such a version goes on making context-only blobs; every newer one binds its id.
    made = kms.encrypt(
        km.EncryptRequest(key_id=key_id, plaintext=b64(b"new"), encryption_context=context)
    ).body.ciphertext_blob
    raw = base64.b64decode(made)
    assert AESGCM(material).decrypt(raw[36:48], raw[48:], context_aad) == b"new"


def test_rotate_root_leaves_no_old_wrapping_in_the_sqlite_files(
    sqlite_server: ServerProcess,
) -> None:
    """The rewrap is an UPDATE: without a checkpoint the keyring sealed by the old root key
    stayed in mamori.db-wal, and the leaked old key still opened every DEK from a copy of the
    data directory (review finding)."""
    server = sqlite_server
    rows = _select(server, select(t.keyring.c.wrapped_dek))
    old_wrappings = {f"wrapped DEK {i}": bytes(r[0]) for i, r in enumerate(rows)}  # type: ignore[index]
    assert old_wrappings and set(_traces(server, old_wrappings)) == set(old_wrappings)

    done = _rotate(server)  # while the server runs and holds its connections

    assert done.returncode == 0, done.stderr
    assert _traces(server, old_wrappings) == []
    _admin(server).describe_regions()
