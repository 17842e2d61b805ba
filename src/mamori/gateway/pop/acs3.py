"""ACS3-HMAC-SHA256: the V3 header signature the new SDK uses by default.

    CanonicalRequest = method \\n path \\n canonical-query \\n canonical-headers \\n
                       signed-headers \\n x-acs-content-sha256
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(key=secret, msg=StringToSign))

Only the URL query is in the canonical query; a form body is bound through the payload hash.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from mamori.gateway.pop.canonical import canonical_headers, canonical_query
from mamori.gateway.pop.request import PopRequest

ALGORITHM: Final = "ACS3-HMAC-SHA256"
_sha256 = hashlib.sha256


def canonical_request(
    req: PopRequest, signed_headers: tuple[str, ...], *, encode_names: bool = True
) -> str:
    """The V3 canonical request for ``req`` over ``signed_headers``."""
    headers = req.headers
    query = req.canonical_query
    if query is None or not encode_names:
        query = canonical_query(req.query, encode_names=encode_names)
    return (
        f"{req.method}\n{req.path or '/'}\n"
        f"{query}\n"
        f"{canonical_headers(headers, signed_headers)}\n"
        f"{';'.join(signed_headers)}\n"
        f"{headers['x-acs-content-sha256']}"
    )


def string_to_sign(canonical: str, algorithm: str = ALGORITHM) -> str:
    """``algorithm`` + newline + hex SHA-256 of the canonical request."""
    return f"{algorithm}\n{_sha256(canonical.encode('utf-8')).hexdigest()}"


def sign(key: bytes, to_sign: str) -> str:
    """Hex HMAC-SHA256 of ``to_sign`` under ``key``."""
    return hmac.digest(key, to_sign.encode("utf-8"), "sha256").hex()
