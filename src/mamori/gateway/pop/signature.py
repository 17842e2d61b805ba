"""Read who claims to have signed a request, and check that claim against the secret.

The gateway calls, in this order: ``read_claim`` (syntax only, no secret needed), then
``check_freshness``, then resolves ``claim.access_key_id`` to a secret, then ``verify``, and only
then records the nonce, so that unauthenticated traffic can never fill the nonce cache.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from hmac import compare_digest
from itertools import chain
from typing import Final

from mamori.api.errors import ApiError
from mamori.gateway.pop import acs3, acs4, rpc_v1_hmac_sha1
from mamori.gateway.pop.canonical import (
    PaddedHeader,
    names_need_encoding,
    raw_names_are_unambiguous,
)
from mamori.gateway.pop.request import PopRequest

ACS3: Final = acs3.ALGORITHM
ACS4: Final = acs4.ALGORITHM
HMAC_SHA1: Final = rpc_v1_hmac_sha1.ALGORITHM

# The real gateway documents these as mandatory in SignedHeaders: without x-acs-content-sha256
# the body would be unsigned, without the date and nonce a signature could be replayed forever.
_REQUIRED_SIGNED: Final = frozenset(
    {
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    }
)
# Query names the transport consumes rather than the action (api/names.py refuses the rest).
# RegionId: every POP API's common parameter, which the old SDK always sends; the region is the
# server's own (configuration), so it carries no meaning here.
HEADER_PARAMETERS: Final = frozenset({"RegionId"})
# The RPC V1 signature's common parameters, as the old SDK and the credentials package send them.
V1_PARAMETERS: Final = HEADER_PARAMETERS | {
    "AccessKeyId",
    "Action",
    "Format",
    "SecurityToken",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureType",
    "SignatureVersion",
    "Timestamp",
    "Version",
}
_TIMESTAMP: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z"
)
_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_HEX_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_SCOPE_DATE: Final = re.compile(r"[0-9]{8}")
_AUTH_FIELDS: Final = ("Credential", "SignedHeaders", "Signature")
# A nonce is remembered exactly as sent, so it may hold only RFC 3986 unreserved characters:
# no stripping, decoding or encoding changes them. The SDKs send 32 hex digits or a UUID.
_NONCE: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
# AccessKey ids reach the store (LTAI…, STS.…); anything else, a NUL included, is not found.
_ACCESS_KEY_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
# ACS4 scopes: the official SDK names the region it was configured with, else the one in a
# <product>.<region>.aliyuncs.com endpoint, else "center" (any address, so every Mamori one).
CENTER_REGION: Final = "center"
# The exact layout both SDK signers emit; anything else goes through the lenient parser.
_SDK_AUTH_LAYOUT: Final = re.compile(r"Credential=([^,]*),SignedHeaders=([^,]*),Signature=([^,]*)")


@dataclass(frozen=True, slots=True)
class Claim:
    """What a request says about its signer; nothing in it is trusted before ``verify``."""

    style: str  # "ACS3-HMAC-SHA256" | "ACS4-HMAC-SHA256" | "HMAC-SHA1"
    access_key_id: str
    security_token: str | None  # x-acs-security-token header or SecurityToken param
    nonce: str
    timestamp: datetime  # aware UTC
    action: str  # x-acs-action header, or Action param (V1)
    version: str  # x-acs-version header, or Version param (V1)
    signature: str = field(default="", repr=False)  # hex (ACS3/ACS4) or base64 (V1), as sent
    signed_headers: tuple[str, ...] = ()  # ACS3/ACS4, in Authorization order
    scope: tuple[str, str, str] | None = None  # ACS4: (yyyymmdd, region, product)

    @property
    def transport_parameters(self) -> frozenset[str]:
        """The query names this signature style consumes itself."""
        return V1_PARAMETERS if self.style == HMAC_SHA1 else HEADER_PARAMETERS


def _incomplete(detail: str) -> ApiError:
    return ApiError("IncompleteSignature", detail=detail)


@lru_cache(maxsize=256)
def parse_timestamp(value: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` into an aware UTC datetime, else InvalidTimeStamp.Format."""
    # Cached: every request signed within the same second carries the same string.
    match = _TIMESTAMP.fullmatch(value)
    if match is not None:
        try:
            year, month, day, hour, minute, second = map(int, match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            pass
    raise ApiError("InvalidTimeStamp.Format")


def read_claim(req: PopRequest) -> Claim:
    """Detect the signature style of ``req`` and read its claim, or raise the documented error."""
    authorization = req.headers.get("authorization")
    if authorization is not None:
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme in (ACS3, ACS4):
            return _read_header_claim(req, scheme, rest)
        # Never echo the header: a bearer token or another scheme's secret may be in it.
        raise _incomplete("The Authorization scheme is not supported.")
    if "Signature" in req.params:
        return _read_v1_claim(req)
    raise _incomplete("The request carries no signature.")


def _auth_fields(rest: str) -> tuple[str, str, str]:
    match = _SDK_AUTH_LAYOUT.fullmatch(rest)
    if match is not None:
        credential, signed, signature = match.groups()
        return credential, signed, signature
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name in fields or name not in _AUTH_FIELDS:
            raise _incomplete("The Authorization header is malformed.")
        fields[name] = value.strip()
    if len(fields) != len(_AUTH_FIELDS):
        raise _incomplete("The Authorization header needs Credential, SignedHeaders, Signature.")
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]


@lru_cache(maxsize=64)
def _signed_headers(signed_list: str) -> tuple[tuple[str, ...], frozenset[str]]:
    # Cached: a client sends the same SignedHeaders list on every request.
    signed = tuple(signed_list.lower().split(";"))
    names = frozenset(signed)
    if not _REQUIRED_SIGNED.issubset(names):
        absent = ", ".join(sorted(_REQUIRED_SIGNED.difference(names)))
        raise _incomplete(f"SignedHeaders must include {absent}.")
    return signed, names


def _read_header_claim(req: PopRequest, style: str, rest: str) -> Claim:
    credential, signed_list, signature = _auth_fields(rest)
    signature = signature.lower()
    if _HEX_SHA256.fullmatch(signature) is None:
        raise _incomplete("The Signature must be 64 hexadecimal digits.")
    headers = req.headers
    action = headers.get("x-acs-action")
    if not action:
        raise ApiError("MissingAction")
    nonce = headers.get("x-acs-signature-nonce")
    if not nonce:
        raise ApiError("MissingSignatureNonce")
    _check_nonce(nonce)
    signed, signed_names = _signed_headers(signed_list)
    if not headers.keys() >= signed_names:
        absent = ", ".join(sorted(signed_names.difference(headers)))
        raise _incomplete(f"The signed headers {absent} are missing from the request.")
    security_token = headers.get("x-acs-security-token")
    if security_token is not None and "x-acs-security-token" not in signed:
        raise _incomplete("SignedHeaders must include x-acs-security-token.")
    date = headers["x-acs-date"]
    timestamp = parse_timestamp(date)
    scope: tuple[str, str, str] | None = None
    access_key_id = credential
    if style == ACS4:
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != acs4.TERMINATOR or not all(parts[:4]):
            raise _incomplete("The Credential must be AccessKeyId/date/region/product/terminator.")
        access_key_id, scope_date, region, product = parts[:4]
        # The derived key is only good for the day it names, and that day must be the request's.
        if _SCOPE_DATE.fullmatch(scope_date) is None or scope_date != date[:10].replace("-", ""):
            raise _incomplete("The Credential date does not match x-acs-date.")
        scope = (scope_date, region, product)
    if not access_key_id:
        raise _incomplete("The Credential names no AccessKeyId.")
    _check_access_key_id(access_key_id)
    # STS requests repeat the AccessKeyId in a header; two different ids would be ambiguous.
    echoed = headers.get("x-acs-accesskey-id")
    if echoed is not None and echoed != access_key_id:
        raise _incomplete("x-acs-accesskey-id does not match the Credential.")
    return Claim(
        style=style,
        access_key_id=access_key_id,
        security_token=security_token or None,
        nonce=nonce,
        timestamp=timestamp,
        action=action,
        version=headers["x-acs-version"],
        signature=signature,
        signed_headers=signed,
        scope=scope,
    )


def _read_v1_claim(req: PopRequest) -> Claim:
    params = req.params  # every name once: parse_pop_request refuses a repeated one
    access_key_id = params.get("AccessKeyId")
    signature = params["Signature"]
    if not access_key_id:
        raise _incomplete("AccessKeyId is missing.")
    _check_access_key_id(access_key_id)
    if not signature or not signature.isascii():
        raise _incomplete("Signature is missing or malformed.")
    if params.get("SignatureMethod") != HMAC_SHA1:
        raise _incomplete("SignatureMethod must be HMAC-SHA1.")
    if params.get("SignatureVersion") != rpc_v1_hmac_sha1.VERSION:
        raise _incomplete("SignatureVersion must be 1.0.")
    # The old SDK always sends SignatureType= (empty); BEARERTOKEN is not an HMAC signature.
    if params.get("SignatureType", ""):
        raise _incomplete("SignatureType is not supported.")
    action = params.get("Action")
    if not action:
        raise ApiError("MissingAction")
    nonce = params.get("SignatureNonce")
    if not nonce:
        raise ApiError("MissingSignatureNonce")
    _check_nonce(nonce)
    version = params.get("Version")
    if not version:
        raise ApiError("MissingParameter", name="Version")
    return Claim(
        style=HMAC_SHA1,
        access_key_id=access_key_id,
        security_token=params.get("SecurityToken") or None,
        nonce=nonce,
        timestamp=parse_timestamp(params.get("Timestamp", "")),
        action=action,
        version=version,
        signature=signature,
    )


def _check_nonce(nonce: str) -> None:
    if _NONCE.fullmatch(nonce) is None:
        raise _incomplete("The signature nonce must be 1 to 128 of A-Z a-z 0-9 - _ . ~")


def _check_access_key_id(access_key_id: str) -> None:
    # Before any lookup: the stores refuse some characters (PostgreSQL a NUL) with a 500.
    if _ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        raise ApiError("InvalidAccessKeyId.NotFound")


def check_scope(claim: Claim, region: str, product: str) -> None:
    """An ACS4 claim's scope must name this server's region (or the SDK's "center") and the
    product of the action; other claims have no scope."""
    if claim.scope is None:
        return
    _, scope_region, scope_product = claim.scope
    if scope_region not in (region, CENTER_REGION) or scope_product.lower() != product:
        raise _incomplete("The Credential scope names another region or product.")


def check_freshness(claim: Claim, now: datetime, window: timedelta = timedelta(minutes=15)) -> None:
    """Raise InvalidTimeStamp.Expired when the timestamp is over ``window`` from aware ``now``."""
    if abs(now - claim.timestamp) > window:
        raise ApiError("InvalidTimeStamp.Expired")


def verify(claim: Claim, req: PopRequest, secret: str) -> None:
    """Check the claim's signature over ``req`` with ``secret`` in constant time, else raise."""
    if claim.style == HMAC_SHA1:
        _verify_v1(claim, req, secret)
        return
    if claim.style not in (ACS3, ACS4):
        raise _incomplete("The signature style is not supported.")
    try:
        (_verify_acs3 if claim.style == ACS3 else _verify_acs4)(claim, req, secret)
    except PaddedHeader as exc:
        raise _incomplete(f"The signed header {exc.name} has surrounding whitespace.") from None


def _verify_v1(claim: Claim, req: PopRequest, secret: str) -> None:
    params = list(chain(req.query, req.form))
    to_sign = rpc_v1_hmac_sha1.string_to_sign(req.method, params)
    if compare_digest(rpc_v1_hmac_sha1.sign(secret, to_sign), claim.signature):
        return
    # alibabacloud-credentials signs its STS calls with spaces spelt '+'; retry only then.
    if any(" " in value for _, value in params):
        plus = rpc_v1_hmac_sha1.string_to_sign(req.method, params, plus_for_space=True)
        if compare_digest(rpc_v1_hmac_sha1.sign(secret, plus), claim.signature):
            return
    raise ApiError("SignatureDoesNotMatch", string_to_sign=to_sign)


def _verify_acs3(claim: Claim, req: PopRequest, secret: str) -> None:
    key = secret.encode("utf-8")
    signed = claim.signed_headers
    to_sign = acs3.string_to_sign(acs3.canonical_request(req, signed))
    if not compare_digest(acs3.sign(key, to_sign), claim.signature):
        # The Python SDK leaves parameter names unencoded, the published spec encodes them; they
        # differ only for names that need encoding (user-chosen map keys), so retry just then.
        # Raw names are accepted only when no name holds '=', '&' or '%': otherwise one name
        # could spell several pairs ("DryRun=true&EncryptionContext") or an encoded name.
        if not names_need_encoding(req.query) or not raw_names_are_unambiguous(req.query):
            raise ApiError("SignatureDoesNotMatch", string_to_sign=to_sign)
        raw_names = acs3.string_to_sign(acs3.canonical_request(req, signed, encode_names=False))
        if not compare_digest(acs3.sign(key, raw_names), claim.signature):
            raise ApiError("SignatureDoesNotMatch", string_to_sign=to_sign)
    _check_payload(claim, req)


def _verify_acs4(claim: Claim, req: PopRequest, secret: str) -> None:
    if claim.scope is None:
        raise _incomplete("The Credential has no scope.")
    key = acs4.signing_key(secret, *claim.scope)
    to_sign = acs3.string_to_sign(acs3.canonical_request(req, claim.signed_headers), ACS4)
    if not compare_digest(acs3.sign(key, to_sign), claim.signature):
        raise ApiError("SignatureDoesNotMatch", string_to_sign=to_sign)
    _check_payload(claim, req)


def _check_payload(claim: Claim, req: PopRequest) -> None:
    # Only the header is signed; this comparison is what binds the body to the signature.
    declared = req.headers["x-acs-content-sha256"].lower()
    actual = hashlib.sha256(req.body).hexdigest() if req.body else _EMPTY_SHA256
    if actual != declared:
        raise _incomplete("x-acs-content-sha256 does not match the request body.")
    if req.body and "content-type" not in claim.signed_headers:
        # The content-type decides whether the body is read as a form: unsigned, it could be
        # changed (and the signed body ignored) without touching the signature.
        raise _incomplete("SignedHeaders must include content-type when there is a body.")
