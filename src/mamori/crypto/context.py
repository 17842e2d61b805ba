"""EncryptionContext → AAD, in the form the official instance SDK computes.

Sort the keys, join as ``k=v&k=v``, SHA-256, lower-case hex; the AAD is that hex string's ASCII
bytes. An empty context gives empty AAD. Equal key/value sets give equal AAD whatever the JSON
spelling, which is what Alibaba documents.

That form does not escape, so some maps share it (``{"a": "b&c=d"}`` and ``{"a": "b", "c":
"d"}``); ``ambiguity`` names the maps Mamori refuses so that no two accepted maps do:

* a key contains neither ``=`` nor ``&``;
* in a value, no ``=`` comes after an ``&`` (``"R&D"``, ``"a=b"`` and ``"x = &"`` are fine,
  ``"b&c=d"`` is not).

Why that is injective: split the joined text on ``&``. A segment that holds an ``=`` starts a
pair (its key, free of ``=``, runs to the first ``=``; the value is the rest); a segment without
one continues the previous value (the value's own ``&``, which no ``=`` follows). The first
segment always starts a pair. So the text gives back exactly the pairs it was made of, and two
different accepted maps never share it; the empty map alone gives empty AAD, every other map a
64-character digest. ``tests/crypto/test_context.py`` checks this decoding as a property.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def canonical(context: Mapping[str, str]) -> str:
    """The official SDK's text for a non-empty context: ``k=v&k=v`` over the sorted keys."""
    return "&".join(f"{k}={context[k]}" for k in sorted(context))


def context_aad(context: Mapping[str, str] | None) -> bytes:
    """The AAD for an EncryptionContext (one that ``ambiguity`` accepts)."""
    if not context:
        return b""
    return hashlib.sha256(canonical(context).encode("utf-8")).hexdigest().encode("ascii")


def ambiguity(key: str, value: str) -> str:
    """Why the pair ``key``/``value`` could make a context share its AAD with another map;
    empty when it cannot. Costs two substring scans for an ordinary pair."""
    if "=" in key or "&" in key:
        return "A key may contain neither '=' nor '&'."
    if "&" in value and "=" in value[value.index("&") :]:
        return "In a value, no '=' may follow an '&'."
    return ""
