"""Why ``mamori server`` could not start, in one line, with a documented exit code.

Every failure an operator can cause or fix (a setting, the store, a port, the data dir, the root of
trust) becomes a ``StartupFailure`` naming the setting and the cause; ``exit_code`` is the table
in docs/operations.md. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import ArgumentError, DBAPIError

from mamori.config import ConfigError
from mamori.crypto.aead import DecryptionFailed
from mamori.hsm import HsmError
from mamori.seal.keyfile import RootKeyFileError
from mamori.seal.pkcs11 import SealError
from mamori.store.engine import SchemaTooNew, UnsupportedStoreUrl

# The exit codes of ``mamori server`` (docs/operations.md, "Start-up errors").
CONFIG = 2
ROOT_OF_TRUST = 3
STORE = 4
SCHEMA_TOO_NEW = 5
LISTEN = 6
DATA_DIR = 7
# The audit log cannot be written at start; also ``mamori audit verify``'s answer to a broken
# chain (docs/audit.md).
AUDIT = 8


@dataclass(frozen=True)
class StartupFailure(Exception):
    """The setting at fault, what is wrong with it, and the exit code that says which kind."""

    setting: str
    cause: str
    exit_code: int

    def __str__(self) -> str:
        # Errors from config and the seal already name their setting or file in their text.
        return f"{self.setting}: {self.cause}" if self.setting else self.cause


def check_data_dir(data_dir: Path) -> None:
    """Create the data dir if needed and prove a file can be made in it, before anything else
    writes there (otherwise the first write fails deep inside the store or the TLS set-up)."""
    probe = data_dir / f".mamori-write-test-{uuid.uuid4().hex}"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StartupFailure(
            "data_dir", f"{data_dir} is not a writable directory ({_reason(exc)})", DATA_DIR
        ) from None


def check_audit_dir(audit_dir: Path) -> None:
    """Prove the audit directory takes files (fail-closed: no server without its audit log)."""
    probe = audit_dir / f".mamori-write-test-{uuid.uuid4().hex}"
    try:
        audit_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise StartupFailure(
            "audit", f"{audit_dir} cannot take audit records ({_reason(exc)})", AUDIT
        ) from None


def audit_failure(exc: Exception) -> StartupFailure:
    """A chain that did not open at start (busy, unwritable, unreadable end)."""
    return StartupFailure("audit", f"the audit log did not open ({_reason(exc)})", AUDIT)


def bind(host: str, port: int, setting: str, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to (host, port) but not yet listening, so a port in use is known
    before anything is said. ``reuse_port``: each worker process of a node binds its own
    socket to the same port (SO_REUSEPORT), and the kernel spreads connections among them."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        cause = f"cannot make a socket for {host} ({_reason(exc)})"
        raise StartupFailure(setting, cause, LISTEN) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            setting, cause = "host", f"{host} is not an address of this machine ({_reason(exc)})"
        elif isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            cause = f"{host}:{port} is already in use by another process"
        elif isinstance(exc, OSError) and exc.errno == errno.EACCES:
            cause = f"{host}:{port} needs privileges this process lacks"
        elif isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL:
            setting, cause = "host", f"{host} is not an address of this machine"
        else:
            cause = f"cannot listen on {host}:{port} ({_reason(exc)})"
        raise StartupFailure(setting, cause, LISTEN) from None
    sock.set_inheritable(True)
    return sock


def explain(exc: BaseException) -> StartupFailure | None:
    """The one-line reason for an exception raised while starting, or None for a bug."""
    if isinstance(exc, StartupFailure):
        return exc
    if isinstance(exc, ConfigError):
        return StartupFailure("", str(exc), CONFIG)
    if isinstance(exc, (HsmError, SealError, RootKeyFileError, DecryptionFailed)):
        # The root of trust did not open (never the PIN in these messages).
        return StartupFailure("", str(exc) or "the keyring did not open", ROOT_OF_TRUST)
    if isinstance(exc, SchemaTooNew):
        return StartupFailure("store_url", str(exc), SCHEMA_TOO_NEW)
    if isinstance(exc, DBAPIError):
        return StartupFailure("store_url", _store_reason(exc), STORE)
    if isinstance(exc, (ArgumentError, UnsupportedStoreUrl)):
        return StartupFailure("store_url", "not a sqlite:///… or postgresql://… URL", CONFIG)
    return None


def _store_reason(exc: DBAPIError) -> str:
    # The driver's own words (never the URL, which may hold the password), on one line.
    text = " ".join(str(exc.orig).split())
    return f"the store cannot be used: {text}"[:400]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__
