"""RPC signature V1, HMAC-SHA1: legacy, kept only because the old SDK speaks nothing else.

SHA-1 is no longer a sound hash; HMAC-SHA1 still resists forgery, but new clients should use
ACS3. The module is named for the algorithm so that every import of it reads as a choice.

    CanonicalQuery = sorted(query + form, minus Signature), "enc(name)=enc(value)" joined by "&"
    StringToSign   = method + "&%2F&" + enc(CanonicalQuery)
    Signature      = base64(hmac_sha1(key = secret + "&", msg = StringToSign))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

from mamori.gateway.pop.canonical import canonical_query

ALGORITHM: Final = "HMAC-SHA1"
VERSION: Final = "1.0"


def string_to_sign(
    method: str, params: Iterable[tuple[str, str]], *, plus_for_space: bool = False
) -> str:
    """The V1 string to sign over every parameter except ``Signature``.

    ``plus_for_space`` spells a space ``+`` instead of ``%20``, as the official credentials
    package's own signer does (it uses ``quote_plus``). That spelling is unambiguous: a literal
    ``+`` in a value is always ``%2B``."""
    canonical = canonical_query([pair for pair in params if pair[0] != "Signature"])
    if plus_for_space:
        canonical = canonical.replace("%20", "+")
    # The canonical query holds only unreserved characters, '%', '=', '&' (and '+' for spaces),
    # so encoding it again only has to escape those; '%' first so new escapes stay intact.
    encoded = canonical.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    if plus_for_space:
        encoded = encoded.replace("+", "%2B")
    return f"{method}&%2F&{encoded}"


def sign(secret: str, to_sign: str) -> str:
    """Base64 HMAC-SHA1 of ``to_sign`` under ``secret + '&'``."""
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
