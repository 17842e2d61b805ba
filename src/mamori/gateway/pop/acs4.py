"""ACS4-HMAC-SHA256: the scoped V4 signature (opt-in ``Config(signature_version='v4')``).

The canonical request and string to sign have the V3 shape (names always encoded); only the key
differs. It is derived from the secret down the credential scope
``<AccessKeyId>/<yyyymmdd>/<region>/<product>/aliyun_v4_request``:

    k_date    = hmac_sha256("aliyun_v4" + secret, yyyymmdd)
    k_region  = hmac_sha256(k_date, region)
    k_product = hmac_sha256(k_region, product)
    k_signing = hmac_sha256(k_product, "aliyun_v4_request")
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

ALGORITHM: Final = "ACS4-HMAC-SHA256"
TERMINATOR: Final = "aliyun_v4_request"
_PREFIX: Final = "aliyun_v4"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    """The V4 signing key for one day, region and product."""
    k_date = _hmac(f"{_PREFIX}{secret}".encode(), date)
    return _hmac(_hmac(_hmac(k_date, region), product), TERMINATOR)
