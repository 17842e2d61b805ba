"""The instance API's request signature: read the claim a request makes, then verify it.

The string to sign and the headers are ``mamori.wire.instance``'s (the client signs the same
string). ``Bearer`` is what every SDK sends; Alibaba's docs write ``TOKEN``; both are accepted.
The docs also show a newline before the "/"; no SDK emits it, and only the SDKs' form is
accepted (one canonical form, never a retry with another spelling).

The gateway calls ``read_claim`` (no key needed: header syntax, the body hash), then
``check_freshness``, then resolves ``claim.client_key_id`` to a public key, then ``verify``.
Every failure is an ``InstanceApiError`` with the code and message the SDKs know. The protocol
has no nonce and the signature is deterministic: the date window is the only replay bound.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from mamori.gateway.instance.errors import (
    InstanceApiError,
    invalid_param,
    missing_header,
)
from mamori.wire.instance import (
    API_VERSION,
    CLIENT_KEY_ID_HEADER,
    MIGRATION_KEY_VERSION_HEADER,
    SIGNATURE_METHOD,
    SIGNED_PREFIX,
    string_to_sign,
)

__all__ = [
    "CLIENT_KEY_ID_HEADER",
    "MIGRATION_KEY_VERSION_HEADER",
    "SIGNATURE_METHOD",
    "Claim",
    "check_freshness",
    "parse_date",
    "read_claim",
    "string_to_sign",
    "verify",
]

DEFAULT_WINDOW: Final = timedelta(minutes=15)

_SCHEMES: Final = frozenset({"Bearer", "TOKEN"})
# Headers whose value feeds the signature or the claim: each may appear once only.
_SINGLE: Final = frozenset({"authorization", "content-sha256", "content-type", "date"})
# RFC 1123 exactly as the Python SDK writes it (tea-util get_date_utcstring); Go's and Java's
# tea utilities are believed to use the same layout (not yet checked against their output).
_DATE: Final = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True, slots=True)
class Claim:
    """What a request says about itself and its signer; nothing here is trusted before
    ``verify``. Downstream code must read the API name, key id and migration header from
    here (the values as signed), never from the raw headers again."""

    api_name: str
    client_key_id: str
    date: datetime  # aware UTC
    # x-kms-* headers as signed: lower-case names, stripped values, ascending by name.
    kms_headers: tuple[tuple[str, str], ...]
    string_to_sign: str = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def migration_key_version_id(self) -> str | None:
        """The ``x-kms-migrationkeyversionid`` the transfer clients send, if any."""
        for name, value in self.kms_headers:
            if name == MIGRATION_KEY_VERSION_HEADER:
                return value
        return None


def parse_date(value: str) -> datetime:
    """Parse the ``date`` header (RFC 1123, GMT) strictly, else ``InvalidParam`` Date."""
    match = _DATE.fullmatch(value)
    if match is not None:
        weekday, day, month, year, hour, minute, second = match.groups()
        try:
            parsed = datetime(
                int(year),
                _MONTHS.index(month) + 1,
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=UTC,
            )
        except ValueError:
            pass
        else:
            # A weekday that contradicts the date is a second spelling of some other instant.
            if _DAYS[parsed.weekday()] == weekday:
                return parsed
    raise invalid_param("Date")


def _header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in headers:
        # HTTP header bytes are latin-1; the SDK signs the same code points as UTF-8.
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in found and (name in _SINGLE or name.startswith(SIGNED_PREFIX)):
            # Two values for one signed header: whichever one we picked, the other was signed.
            raise invalid_param(name)
        found[name] = value
    return found


def _decode_authorization(value: str | None) -> bytes:
    if value is None:
        raise missing_header("Authorization")
    scheme, sep, encoded = value.partition(" ")
    if not sep or scheme not in _SCHEMES or _BASE64.fullmatch(encoded) is None:
        raise invalid_param("Authorization")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise invalid_param("Authorization") from None


def read_claim(method: str, headers: Iterable[tuple[bytes, bytes]], body: bytes) -> Claim:
    """Read and check everything a request says before any key is looked up.

    ``headers`` are the raw (name, value) pairs as received (ASGI's form), ``body`` the exact
    body bytes. Checks run in the order the spec gives: API version, signature method, date
    syntax, body hash, client key id, authorization syntax; the first failure is raised.
    """
    h = _header_map(headers)
    kms_headers = [(name, value.strip()) for name, value in h.items() if name.startswith("x-kms-")]
    kms = dict(kms_headers)

    version = kms.get("x-kms-apiversion")
    if version is None:
        raise missing_header("x-kms-apiversion")
    if version != API_VERSION:
        raise InstanceApiError("InvalidApiVersion", version=version)
    api_name = kms.get("x-kms-apiname")
    if not api_name:
        raise missing_header("x-kms-apiname")
    if kms.get("x-kms-signaturemethod") != SIGNATURE_METHOD:
        raise invalid_param("x-kms-signaturemethod")

    date_text = h.get("date")
    if date_text is None:
        raise missing_header("Date")
    date = parse_date(date_text)

    # Only the header is signed; this comparison is what binds the body to the signature.
    # Exact upper-case hex, as the SDKs send it: one spelling per body.
    content_sha256 = h.get("content-sha256")
    if content_sha256 is None:
        raise missing_header("Content-SHA256")
    if content_sha256 != hashlib.sha256(body).hexdigest().upper():
        raise invalid_param("Content-SHA256")

    client_key_id = kms.get(CLIENT_KEY_ID_HEADER)
    if not client_key_id:
        raise missing_header(CLIENT_KEY_ID_HEADER)
    signature = _decode_authorization(h.get("authorization"))

    to_sign = string_to_sign(
        method, content_sha256, h.get("content-type", ""), date_text, kms_headers
    )
    return Claim(
        api_name=api_name,
        client_key_id=client_key_id,
        date=date,
        kms_headers=tuple(sorted(kms_headers)),
        string_to_sign=to_sign,
        signature=signature,
    )


def check_freshness(claim: Claim, now: datetime, window: timedelta = DEFAULT_WINDOW) -> None:
    """Raise ``InvalidParam`` Date when the request's date is over ``window`` from aware ``now``.

    The real window is undocumented; 15 minutes matches the shared gateway.
    """
    if abs(now - claim.date) > window:
        raise invalid_param("Date")


def verify(claim: Claim, public_key: RSAPublicKey) -> None:
    """Check the claim's RSA-SHA256 signature with the client key's public half, else raise
    ``InvalidParam`` Authorization (the code the SDKs map to IncompleteSignature)."""
    try:
        public_key.verify(
            claim.signature,
            claim.string_to_sign.encode("utf-8"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise invalid_param("Authorization") from None
