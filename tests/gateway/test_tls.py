"""Tests for mamori.gateway.tls: the local CA, the server certificate, operator-supplied files."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.gateway.tls import TlsConfigError, TlsFiles, ensure_tls

# Renewal logic runs on fixed instants; anything OpenSSL verifies must be valid on the real clock.
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _snapshot(tls_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tls_dir.iterdir())}


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _handshake(files: TlsFiles, server_hostname: str, cafile: Path) -> bytes:
    """Complete a TLS handshake over a socket pair and echo one message; return what came back."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert_file, files.key_file)
    client_ctx = ssl.create_default_context(cafile=cafile)
    # Python 3.13 turns this on by default; the chain must pass it for newer clients too.
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)

    def serve() -> None:
        # A refused handshake surfaces on the client side; the server's half of it is expected.
        with (
            contextlib.suppress(OSError),
            server_ctx.wrap_socket(right, server_side=True) as conn,
        ):
            conn.sendall(conn.recv(64))

    server = threading.Thread(target=serve)
    server.start()
    try:
        with client_ctx.wrap_socket(left, server_hostname=server_hostname) as conn:
            conn.sendall(b"ping")
            return conn.recv(64)
    finally:
        left.close()
        server.join(10)
        right.close()


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tls"


# --- first start -----------------------------------------------------------------------------


def test_first_start_creates_the_files_with_private_modes(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir, now=T0)

    assert files == TlsFiles(tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server.key")
    assert sorted(p.name for p in tls_dir.iterdir()) == [
        "ca.key",
        "ca.pem",
        "server.key",
        "server.pem",
    ]
    assert _mode(tls_dir) == 0o700
    assert _mode(tls_dir / "ca.key") == 0o600
    assert _mode(tls_dir / "server.key") == 0o600


def test_ca_certificate(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir, now=T0)
    assert files.ca_file is not None
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())

    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    (cn,) = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert isinstance(cn.value, str)
    assert cn.value.startswith("Mamori Local CA ")
    assert len(cn.value) > len("Mamori Local CA ")
    assert ca.issuer == ca.subject
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == timedelta(days=3650)
    assert ca.not_valid_before_utc <= T0

    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key)


def test_ca_names_differ_between_installations(tmp_path: Path) -> None:
    a = ensure_tls(tmp_path / "a", now=T0)
    b = ensure_tls(tmp_path / "b", now=T0)
    assert a.ca_file is not None and b.ca_file is not None

    subject_a = x509.load_pem_x509_certificate(a.ca_file.read_bytes()).subject
    subject_b = x509.load_pem_x509_certificate(b.ca_file.read_bytes()).subject
    assert subject_a != subject_b


def test_server_certificate(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir, ["kms.example.test", "10.0.0.7", "*.kms.example.test"], now=T0)
    assert files.ca_file is not None
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())

    chain = _chain(files.cert_file)
    assert len(chain) == 2
    leaf = chain[0]
    assert chain[1] == ca
    leaf.verify_directly_issued_by(ca)

    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=825)
    assert leaf.not_valid_before_utc <= T0

    san = _san(leaf)
    assert san.get_values_for_type(x509.DNSName) == [
        "localhost",
        "kms.example.test",
        "*.kms.example.test",
    ]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.7"),
    ]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert not basic.value.ca
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest

    server_key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
    assert isinstance(server_key, ec.EllipticCurvePrivateKey)
    assert server_key.public_key() == key


# --- what real TLS stacks accept ---------------------------------------------------------------


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1", "::1", "kms.example.test"])
def test_python_ssl_handshake_verifies_the_chain(tls_dir: Path, server_hostname: str) -> None:
    files = ensure_tls(tls_dir, ["kms.example.test"])
    assert files.ca_file is not None

    assert _handshake(files, server_hostname, files.ca_file) == b"ping"


def test_handshake_rejects_a_name_not_in_the_certificate(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir)
    assert files.ca_file is not None

    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(files, "other.example.test", files.ca_file)


def test_handshake_rejects_a_client_trusting_another_ca(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path / "one")
    other = ensure_tls(tmp_path / "other")
    assert other.ca_file is not None

    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(files, "localhost", other.ca_file)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
def test_openssl_verify_accepts_the_server_certificate(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir)
    assert files.ca_file is not None

    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            str(files.ca_file),
            str(files.cert_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{files.cert_file}: OK"


# --- later starts ----------------------------------------------------------------------------


def test_second_start_reuses_every_file(tls_dir: Path) -> None:
    first = ensure_tls(tls_dir, ["kms.example.test"], now=T0)
    before = _snapshot(tls_dir)

    second = ensure_tls(tls_dir, ["KMS.example.test."], now=T0 + timedelta(days=1))

    assert second == first
    assert _snapshot(tls_dir) == before


def test_added_host_name_reissues_the_server_certificate_with_the_same_ca(tls_dir: Path) -> None:
    ensure_tls(tls_dir, now=T0)
    before = _snapshot(tls_dir)

    files = ensure_tls(tls_dir, ["kst-abc.cryptoservice.kms.example.test"], now=T0)

    after = _snapshot(tls_dir)
    assert after["ca.pem"] == before["ca.pem"]
    assert after["ca.key"] == before["ca.key"]
    assert after["server.pem"] != before["server.pem"]
    assert after["server.key"] != before["server.key"]
    leaf = _chain(files.cert_file)[0]
    assert "kst-abc.cryptoservice.kms.example.test" in _san(leaf).get_values_for_type(x509.DNSName)
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(before["ca.pem"]))
    assert _mode(files.key_file) == 0o600


def test_added_ip_address_reissues_the_server_certificate(tls_dir: Path) -> None:
    ensure_tls(tls_dir, ["10.0.0.7"], now=T0)
    before = _snapshot(tls_dir)

    files = ensure_tls(tls_dir, ["10.0.0.7", "[fd00::7]"], now=T0)

    assert _snapshot(tls_dir)["server.pem"] != before["server.pem"]
    ips = _san(_chain(files.cert_file)[0]).get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("fd00::7") in ips


def test_server_certificate_is_renewed_30_days_before_expiry(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir, now=T0)
    not_after = _chain(files.cert_file)[0].not_valid_after_utc
    before = _snapshot(tls_dir)

    ensure_tls(tls_dir, now=not_after - timedelta(days=30, seconds=1))
    assert _snapshot(tls_dir) == before

    renewal_time = not_after - timedelta(days=30)
    ensure_tls(tls_dir, now=renewal_time)
    after = _snapshot(tls_dir)
    assert after["server.pem"] != before["server.pem"]
    assert after["ca.pem"] == before["ca.pem"]
    assert after["ca.key"] == before["ca.key"]
    assert _chain(files.cert_file)[0].not_valid_after_utc > renewal_time + timedelta(days=800)


def test_missing_server_certificate_is_reissued_with_the_same_ca(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir, now=T0)
    ca_pem = (tls_dir / "ca.pem").read_bytes()
    files.cert_file.unlink()

    ensure_tls(tls_dir, now=T0)

    assert (tls_dir / "ca.pem").read_bytes() == ca_pem
    _chain(files.cert_file)[0].verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))


def test_server_key_that_does_not_match_is_replaced(tls_dir: Path) -> None:
    files = ensure_tls(tls_dir, now=T0)
    stray = ec.generate_private_key(ec.SECP256R1())
    files.key_file.write_bytes(
        stray.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    ensure_tls(tls_dir, now=T0)

    key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
    assert key.public_key() == _chain(files.cert_file)[0].public_key()


def test_existing_ca_is_never_regenerated_without_its_key(tls_dir: Path) -> None:
    ensure_tls(tls_dir, now=T0)
    ca_pem = (tls_dir / "ca.pem").read_bytes()
    (tls_dir / "ca.key").unlink()
    (tls_dir / "server.pem").unlink()

    with pytest.raises(TlsConfigError, match=r"ca\.key is missing"):
        ensure_tls(tls_dir, now=T0)
    assert (tls_dir / "ca.pem").read_bytes() == ca_pem


def test_expired_ca_is_reported_not_replaced(tls_dir: Path) -> None:
    ensure_tls(tls_dir, now=T0)
    before = _snapshot(tls_dir)

    with pytest.raises(TlsConfigError, match="expired"):
        ensure_tls(tls_dir, now=T0 + timedelta(days=3651))
    assert _snapshot(tls_dir) == before


def test_interrupted_first_start_makes_a_fresh_ca(tls_dir: Path) -> None:
    tls_dir.mkdir(parents=True)
    (tls_dir / "ca.key").write_bytes(b"left over from a crash")

    files = ensure_tls(tls_dir, now=T0)

    assert files.ca_file is not None
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    _chain(files.cert_file)[0].verify_directly_issued_by(ca)


def test_loosened_modes_are_tightened_again(tls_dir: Path) -> None:
    ensure_tls(tls_dir, now=T0)
    os.chmod(tls_dir, 0o755)
    os.chmod(tls_dir / "ca.key", 0o644)
    os.chmod(tls_dir / "server.key", 0o644)

    ensure_tls(tls_dir, now=T0)

    assert _mode(tls_dir) == 0o700
    assert _mode(tls_dir / "ca.key") == 0o600
    assert _mode(tls_dir / "server.key") == 0o600


def test_key_files_are_private_before_they_get_their_name(
    tls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[tuple[str, int]] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renamed.append((Path(dst).name, _mode(Path(src))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)  # a permissive umask must not widen the key files
    try:
        ensure_tls(tls_dir, now=T0)
    finally:
        os.umask(old_umask)

    assert dict(renamed) == {
        "ca.key": 0o600,
        "ca.pem": 0o644,
        "server.key": 0o600,
        "server.pem": 0o644,
    }
    assert not [p for p in tls_dir.iterdir() if p.name.endswith(".tmp")]


# --- bad host names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "bad name", "-lead.example", "a..b", "münchen.example"])
def test_host_name_that_is_neither_dns_nor_ip_is_rejected(tls_dir: Path, name: str) -> None:
    with pytest.raises(TlsConfigError, match="neither an IP address nor an ASCII DNS name"):
        ensure_tls(tls_dir, [name], now=T0)


def test_single_string_for_host_names_is_refused(tls_dir: Path) -> None:
    with pytest.raises(TypeError, match="not a single string"):
        ensure_tls(tls_dir, "kms.example.test", now=T0)


# --- operator-supplied files -------------------------------------------------------------------


@pytest.fixture
def operator_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate and key made elsewhere, as an operator would bring them."""
    made = ensure_tls(tmp_path / "elsewhere")
    return made.cert_file, made.key_file


def test_operator_files_are_used_as_given(tmp_path: Path, operator_pair: tuple[Path, Path]) -> None:
    cert_file, key_file = operator_pair
    tls_dir = tmp_path / "data" / "tls"

    files = ensure_tls(tls_dir, ["ignored.example"], cert_file=cert_file, key_file=key_file)

    assert files == TlsFiles(ca_file=None, cert_file=cert_file, key_file=key_file)
    assert not tls_dir.exists()


def test_operator_key_that_does_not_match_is_rejected(
    tmp_path: Path, operator_pair: tuple[Path, Path]
) -> None:
    cert_file, _ = operator_pair
    other_key = ensure_tls(tmp_path / "other").key_file

    with pytest.raises(TlsConfigError, match="is not the private key of the certificate"):
        ensure_tls(tmp_path / "tls", cert_file=cert_file, key_file=other_key)


@pytest.mark.parametrize("given", ["cert", "key"])
def test_operator_must_give_both_files(
    tmp_path: Path, operator_pair: tuple[Path, Path], given: str
) -> None:
    cert_file, key_file = operator_pair

    with pytest.raises(TlsConfigError, match="both a TLS certificate file and a TLS key file"):
        if given == "cert":
            ensure_tls(tmp_path / "tls", cert_file=cert_file)
        else:
            ensure_tls(tmp_path / "tls", key_file=key_file)


def test_missing_operator_file_is_rejected(
    tmp_path: Path, operator_pair: tuple[Path, Path]
) -> None:
    _, key_file = operator_pair

    with pytest.raises(TlsConfigError, match="cannot read TLS certificate file"):
        ensure_tls(tmp_path / "tls", cert_file=tmp_path / "absent.pem", key_file=key_file)


def test_operator_files_that_are_not_pem_are_rejected(
    tmp_path: Path, operator_pair: tuple[Path, Path]
) -> None:
    cert_file, key_file = operator_pair
    junk = tmp_path / "junk"
    junk.write_bytes(b"not pem")

    with pytest.raises(TlsConfigError, match="holds no PEM certificate"):
        ensure_tls(tmp_path / "tls", cert_file=junk, key_file=key_file)
    with pytest.raises(TlsConfigError, match="holds no usable PEM private key"):
        ensure_tls(tmp_path / "tls", cert_file=cert_file, key_file=junk)


def test_encrypted_operator_key_is_rejected(
    tmp_path: Path, operator_pair: tuple[Path, Path]
) -> None:
    cert_file, key_file = operator_pair
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )

    with pytest.raises(TlsConfigError, match="is encrypted"):
        ensure_tls(tmp_path / "tls", cert_file=cert_file, key_file=encrypted)
