"""EncryptionContext → AAD, in the form the official instance SDK computes.

Sort the keys, join as ``k=v&k=v``, SHA-256, lower-case hex; the AAD is that hex string's ASCII
bytes. An empty context gives empty AAD. Equal key/value sets give equal AAD whatever the JSON
spelling, which is what Alibaba documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def context_aad(context: Mapping[str, str] | None) -> bytes:
    """The AAD for an EncryptionContext."""
    if not context:
        return b""
    joined = "&".join(f"{k}={context[k]}" for k in sorted(context))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest().encode("ascii")
