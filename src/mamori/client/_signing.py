"""ACS3-HMAC-SHA256 request signing, as the official SDKs do it (spec/kms-api.md §4.1)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
_SIGNED: tuple[str, ...] = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)
# With temporary (STS) credentials the token header is signed too; the list stays sorted.
_SIGNED_WITH_TOKEN = tuple(sorted((*_SIGNED, "x-acs-security-token")))


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def sign(
    *,
    host: str,
    action: str,
    version: str,
    query: Mapping[str, str],
    access_key_id: str,
    secret: str,
    security_token: str | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The headers of a signed ``POST /`` with ``query`` and an empty body; with
    ``security_token`` (STS credentials) it is sent and signed as ``x-acs-security-token``."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "x-acs-signature-nonce": secrets.token_hex(16),
        "x-acs-content-sha256": _EMPTY_SHA256,
    }
    names = _SIGNED
    if security_token:
        headers["x-acs-security-token"] = security_token
        names = _SIGNED_WITH_TOKEN
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    signed = ";".join(names)
    canonical = "\n".join(
        ("POST", "/", canonical_query, canonical_headers, signed, headers["x-acs-content-sha256"])
    )
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature={signature}"
    )
    return headers
