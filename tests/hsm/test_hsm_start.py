"""Starting with a token: a token that does not open stops the server (clear message, no PIN,
non-zero exit); the PKCS#11 seal keeps the root key in the token across restarts."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

from alibabacloud_kms20160120 import models as km

from tests.compat.sdk import b64, expect_error, new_sdk
from tests.conftest import (
    ROOT,
    ServerProcess,
    _store_url,
    drop_pg_database,
    free_port,
)
from tests.hsm.softhsm import SoftHsm, make_token, probe

START_FAILED = 3


def refused_start(data_dir: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run ``mamori server`` expecting it to stop before listening; its exit code and output."""
    full_env = {**os.environ, **env}
    full_env.pop("MAMORI_CONFIG", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mamori.cli",
            "server",
            "--data-dir",
            str(data_dir),
            "--port",
            str(free_port()),
            "--tls-port",
            "0",
            *args,
        ],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def _mamori(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``mamori`` command with ``env`` (and no other MAMORI_ setting)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wrong_pin_refuses_to_start_and_never_prints_the_pin(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    wrong = "not-the-pin-4711"
    code, output = refused_start(tmp_path / "data", softhsm.server_env(pin=wrong))
    assert code == START_FAILED, output
    assert "PIN" in output and "refused" in output
    assert wrong not in output and softhsm.pin not in output
    assert "Traceback" not in output


def test_missing_token_refuses_to_start(softhsm: SoftHsm, tmp_path: Path) -> None:
    code, output = refused_start(tmp_path / "data", softhsm.server_env(label="no-such-token"))
    assert code == START_FAILED, output
    assert "no token 'no-such-token'" in output


def test_missing_module_refuses_to_start(softhsm: SoftHsm, tmp_path: Path) -> None:
    env = {**softhsm.server_env(), "MAMORI_HSM_MODULE": str(tmp_path / "nothing.so")}
    code, output = refused_start(tmp_path / "data", env)
    assert code == START_FAILED, output
    assert "does not exist" in output


def test_pkcs11_seal_without_a_token_is_a_configuration_error(tmp_path: Path) -> None:
    code, output = refused_start(tmp_path / "data", {"MAMORI_SEAL_PROVIDER": "pkcs11"})
    assert code == 2, output
    assert "token_label" in output


def test_hsm_protection_level_without_a_token_is_unsupported(server: ServerProcess) -> None:
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    expect_error(
        "Unsupported.ProtectionLevel",
        400,
        lambda: kms.create_key(km.CreateKeyRequest(protection_level="HSM")),
    )


def _config(tmp_path: Path, token: SoftHsm) -> Path:
    # The PIN stays out of the file: it comes from MAMORI_HSM_PIN.
    toml = tmp_path / "mamori.toml"
    toml.write_text(
        '[server]\nseal_provider = "pkcs11"\n\n'
        f'[hsm]\nmodule = "{token.module}"\ntoken_label = "{token.label}"\n'
        'root_key_label = "mamori/test-root"\n'
    )
    return toml


def test_pkcs11_seal_start_restart_and_keys_stay_usable(backend: str, tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm")
    url, pg = _store_url(backend, tmp_path)
    env = {**token.env, "MAMORI_HSM_PIN": token.pin}
    proc = ServerProcess(
        backend,
        tmp_path / "data",
        url,
        free_port(),
        free_port(),
        env=env,
        args=["--config", str(_config(tmp_path, token))],
    )
    try:
        proc.start()
        assert not (proc.data_dir / "root.key").exists()
        root = probe(token, "mamori/test-root")
        assert (root["count"], root["extractable"], root["value"]) == (
            1,
            False,
            "AttributeSensitive",
        )
        kms = new_sdk(proc.endpoint, proc.access_key_id, proc.access_key_secret)
        software = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        hsm = kms.create_key(km.CreateKeyRequest(protection_level="HSM")).body.key_metadata.key_id
        blobs = {
            k: kms.encrypt(km.EncryptRequest(key_id=k, plaintext=b64(k.encode()))).body
            for k in (software, hsm)
        }

        proc.restart()
        kms = new_sdk(proc.endpoint, proc.access_key_id, proc.access_key_secret)
        for k, body in blobs.items():
            out = kms.decrypt(km.DecryptRequest(ciphertext_blob=body.ciphertext_blob)).body
            assert base64.b64decode(out.plaintext) == k.encode()
        proc.stop()

        # The audit key is wrapped by the keyring the token's root key seals: verify opens it
        # the way the server does (same config, store and PIN), and without the PIN cannot.
        verify = [
            "audit",
            "verify",
            "--data-dir",
            str(proc.data_dir),
            "--store-url",
            url,
            "--config",
            str(_config(tmp_path, token)),
        ]
        done = _mamori(env, *verify)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OK" in done.stdout and "MACs checked" in done.stdout
        done = _mamori({**env, "MAMORI_HSM_PIN": "not-the-pin-4711"}, *verify)
        assert done.returncode == START_FAILED, done.stdout + done.stderr
        assert "cannot get the audit key" in done.stderr and "not-the-pin" not in done.stderr

        # Same store, but a token without the root key: refuse rather than make a new root key.
        other = make_token(tmp_path / "other", label=token.label)
        code, output = refused_start(
            proc.data_dir,
            {**other.env, "MAMORI_HSM_PIN": other.pin},
            "--store-url",
            url,
            "--config",
            str(_config(tmp_path, other)),
        )
        assert code == START_FAILED, output
        assert "no root key labelled 'mamori/test-root'" in output
    finally:
        if proc.process is not None and proc.process.poll() is None:
            proc.stop()
        if pg is not None:
            drop_pg_database(pg)


PROBED = "capability probe of token"


def _probes(proc: ServerProcess) -> int:
    assert proc.log_path is not None
    return proc.log_path.read_text().count(PROBED)


def test_each_worker_probes_the_token_at_start_not_on_a_request(tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm")
    url, _ = _store_url("sqlite", tmp_path)
    proc = ServerProcess("sqlite", tmp_path / "data", url, free_port(), free_port(),
                         env=token.server_env())  # fmt: skip
    proc.start({"MAMORI_WORKERS": "2"})
    try:
        # No KMS request yet: both workers probe on their own, right after they start.
        deadline = time.monotonic() + 30
        while _probes(proc) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _probes(proc) == 2, proc.log_path.read_text() if proc.log_path else ""
        # HSM requests find the answer ready (and never probe again).
        kms = new_sdk(proc.endpoint, proc.access_key_id, proc.access_key_secret)
        for _ in range(4):
            request = km.CreateKeyRequest(key_spec="EC_P256", key_usage="SIGN/VERIFY",
                                          protection_level="HSM")  # fmt: skip
            assert kms.create_key(request).body.key_metadata.key_id
        assert _probes(proc) == 2
    finally:
        proc.stop()


def test_no_probe_without_a_token(server: ServerProcess) -> None:
    assert server.log_path is not None and server.log_path.exists()
    assert _probes(server) == 0
