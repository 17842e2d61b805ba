"""Which parameter names a request may carry: none is silently ignored (DESIGN §7).

A name the action neither declares, nor takes as a flattened form of a declared map or list
(``EncryptionContext.lang``), nor documents and refuses (``api/unimplemented.py``), nor is a
name the transport itself consumed (the RPC signature's ``Timestamp``, ``SignatureNonce``…) is
refused with ``InvalidParameter`` naming it. Ignoring it would be safe only for a name with no
meaning, and the server cannot tell that a name has none: a typo of a security parameter
(``EncryptionContex``), the flattened form of a map the server did not read (the defect this
module closes: ``EncryptionContext.lang=ts`` sealed data with no context at all), or a parameter
a newer SDK added (a scoping ``Policy``) would each be dropped without a word.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from mamori.api.catalogue import Action
from mamori.api.errors import ApiError, invalid
from mamori.api.unimplemented import REFUSED

# id(action) → (action, names it reads, heads of its flattened families). Keyed by identity:
# hashing a frozen Action hashes every parameter declaration, on every request.
_ALLOWED: dict[int, tuple[Action, frozenset[str], frozenset[str]]] = {}


def _allowed(action: Action) -> tuple[frozenset[str], frozenset[str]]:
    entry = _ALLOWED.get(id(action))
    if entry is None or entry[0] is not action:
        names = {param.name for param in action.params}
        names.update(REFUSED.get((action.version, action.name), ()))
        heads = frozenset(param.name for param in action.params if param.flattens)
        entry = _ALLOWED[id(action)] = (action, frozenset(names), heads)
    return entry[1], entry[2]


def check_names(action: Action, raw: Mapping[str, str], transport: Collection[str]) -> None:
    """Refuse the first name in ``raw`` that ``action`` does not read; ``transport`` are names
    the gateway consumed itself (signature parameters)."""
    names, heads = _allowed(action)
    for name in raw:
        if name in names or name in transport:
            continue
        head, dot, _ = name.partition(".")
        if dot and head in heads:
            continue  # the parameter's own reader checks the rest of the name
        raise unknown(name, action)


def unknown(name: str, action: Action) -> ApiError:
    """``InvalidParameter`` for a name ``action`` does not take."""
    return invalid(name[:64], f"{action.name} takes no such parameter.")
