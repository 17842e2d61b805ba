"""TLS material for the gateways: a local CA and the server certificate it signs, or the operator's.

Files Mamori manages in ``<data-dir>/tls/`` (directory mode 0700):

- ``ca.pem``  the local CA certificate, the file clients trust; never replaced once written.
- ``ca.key``  its private key, mode 0600.
- ``server.pem``  the server certificate followed by the CA certificate (the chain ``ssl`` sends).
- ``server.key``  the server private key, mode 0600; reissued together with ``server.pem``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_VALIDITY",
    "RENEW_BEFORE",
    "SERVER_VALIDITY",
    "TlsConfigError",
    "TlsFiles",
    "ensure_tls",
]

CA_VALIDITY: Final = timedelta(days=3650)
# Apple platforms reject server certificates whose not_before..not_after span exceeds 825 days.
SERVER_VALIDITY: Final = timedelta(days=825)
RENEW_BEFORE: Final = timedelta(days=30)
# Backdating lets in clients whose clocks run somewhat behind the server's.
_BACKDATE: Final = timedelta(hours=1)

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_LOOPBACK: Final[tuple[_IPAddress, ...]] = (
    ipaddress.ip_address("127.0.0.1"),
    ipaddress.ip_address("::1"),
)
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class TlsConfigError(ValueError):
    """The TLS files given by the operator or found on disk cannot be used."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The files the gateway hands to ``ssl``; ``ca_file`` is what clients should trust."""

    ca_file: Path | None
    cert_file: Path
    key_file: Path


def ensure_tls(
    tls_dir: Path,
    host_names: Sequence[str] = (),
    *,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    now: datetime | None = None,
) -> TlsFiles:
    """Return usable TLS files: the operator's pair, or a local CA and a server cert it signed."""
    if cert_file is not None or key_file is not None:
        return _operator_files(cert_file, key_file)
    if isinstance(host_names, str):
        # A bare string is a Sequence[str] too, and would silently become one name per letter.
        raise TypeError("host_names must be a sequence of names, not a single string")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    dns_names, ips = _parse_host_names(host_names)

    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir leaves an existing directory's mode alone; this one holds the CA key.
    os.chmod(tls_dir, 0o700)
    ca_cert, ca_key = _load_or_create_ca(tls_dir, now)

    files = TlsFiles(tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server.key")
    if _server_needs_issue(files.cert_file, files.key_file, ca_cert, dns_names, ips, now):
        _issue_server(files.cert_file, files.key_file, ca_cert, ca_key, dns_names, ips, now)
    else:
        os.chmod(files.key_file, 0o600)
    return files


def _operator_files(cert_file: Path | None, key_file: Path | None) -> TlsFiles:
    if cert_file is None or key_file is None:
        raise TlsConfigError("give both a TLS certificate file and a TLS key file, or neither")
    cert_pem, key_pem = _read(cert_file, "certificate"), _read(key_file, "key")
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError as exc:
        raise TlsConfigError(f"TLS certificate file {cert_file} holds no PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as exc:
        # The server starts unattended, so there is nobody to ask for a passphrase.
        raise TlsConfigError(f"TLS key file {key_file} is encrypted; give it unencrypted") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsConfigError(f"TLS key file {key_file} holds no usable PEM private key") from exc
    if not _key_matches(leaf, key):
        raise TlsConfigError(
            f"TLS key file {key_file} is not the private key of the certificate in {cert_file}"
        )
    return TlsFiles(ca_file=None, cert_file=cert_file, key_file=key_file)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read TLS {what} file {path}: {exc.strerror}") from exc


def _parse_host_names(host_names: Sequence[str]) -> tuple[list[str], list[_IPAddress]]:
    dns_names, ips = ["localhost"], list(_LOOPBACK)
    for raw in host_names:
        name = raw.strip()
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]  # an IPv6 literal written as in a URL
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            dns = _dns_name(name, raw)
            if dns not in dns_names:
                dns_names.append(dns)
        else:
            if ip not in ips:
                ips.append(ip)
    return dns_names, ips


def _dns_name(name: str, raw: str) -> str:
    dns = name.lower().removesuffix(".")
    labels = dns.split(".")
    # A leading "*" serves every instance host name under one domain with a single certificate.
    checked = labels[1:] if labels[0] == "*" and len(labels) > 1 else labels
    if not dns.isascii() or len(dns) > 253 or not all(_LABEL.fullmatch(x) for x in checked):
        raise TlsConfigError(
            f"TLS host name {raw!r} is neither an IP address nor an ASCII DNS name "
            "(write internationalized names in their xn-- form)"
        )
    return dns


def _load_or_create_ca(tls_dir: Path, now: datetime) -> tuple[x509.Certificate, _CaKey]:
    cert_path, key_path = tls_dir / "ca.pem", tls_dir / "ca.key"
    if not cert_path.exists():
        # No client can trust a CA whose certificate was never written, so a ca.key left
        # behind by an interrupted first start is safe to replace.
        return _create_ca(cert_path, key_path, now)
    if not key_path.exists():
        raise TlsConfigError(
            f"{cert_path} exists but {key_path} is missing; restore it, or remove both to create "
            "a new CA (every client that trusts the old one must then be given the new ca.pem)"
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TlsConfigError(f"cannot load the local CA from {cert_path} and {key_path}") from exc
    if not isinstance(key, _CaKey) or not _key_matches(cert, key):
        raise TlsConfigError(f"{key_path} is not a usable private key of the CA in {cert_path}")
    if now >= cert.not_valid_after_utc:
        raise TlsConfigError(
            f"the local CA in {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}; remove "
            "ca.pem and ca.key to create a new one, then give clients the new ca.pem"
        )
    os.chmod(key_path, 0o600)
    return cert, key


def _create_ca(cert_path: Path, key_path: Path, now: datetime) -> tuple[x509.Certificate, _CaKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # A random suffix keeps the CAs of separate installations apart in a trust store, which
    # looks issuers up by subject name.
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"Mamori Local CA {secrets.token_hex(4)}")]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    not_before = now - _BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(key_path, _key_pem(key), 0o600)
    # The certificate goes last: its presence is what marks the CA as made.
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _server_needs_issue(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    dns_names: list[str],
    ips: list[_IPAddress],
    now: datetime,
) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return True
    try:
        chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        leaf = chain[0]
        leaf.verify_directly_issued_by(ca_cert)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature, x509.ExtensionNotFound):
        # Only the CA is pinned by clients; a damaged or foreign server pair is simply replaced.
        return True
    return (
        chain[1:] != [ca_cert]
        or not _key_matches(leaf, key)
        or not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc - RENEW_BEFORE
        or not set(dns_names) <= {n.lower() for n in san.get_values_for_type(x509.DNSName)}
        or not set(ips) <= set(san.get_values_for_type(x509.IPAddress))
    )


def _issue_server(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: _CaKey,
    dns_names: list[str],
    ips: list[_IPAddress],
    now: datetime,
) -> None:
    # ECDSA P-256: a full handshake costs a fraction of RSA-2048's server CPU (DESIGN §9).
    key = ec.generate_private_key(ec.SECP256R1())
    not_before = now - _BACKDATE
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    san = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ip) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mamori server")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        # A leaf outliving its CA would fail verification before its own expiry anyway.
        .not_valid_after(min(not_before + SERVER_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, ca_cert))
    _write_atomic(key_path, _key_pem(key), 0o600)
    _write_atomic(cert_path, chain, 0o644)


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def _key_pem(key: _CaKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # Created with its final mode (and O_EXCL, so no planted file or symlink is reused): a key
    # is never readable by others, not even between create and chmod.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask may have cleared bits a certificate wants
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
