"""The JSON body of a shared-gateway answer.

Most answers are a flat object of plain ASCII strings (ids, base64 blobs, a request id), which
JSON spells exactly as they are between quotes; writing those directly costs a fifth of
``json.dumps`` for a 1 KiB ciphertext (its encoder is built per call and reads every
character through its escaping loop). Anything else goes to ``json.dumps`` itself, so the
bytes are always the ones it would write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

# Printable ASCII: what a JSON string holds unescaped. '"' and '\\' are printable but need an
# escape; they are looked for separately (two C-level scans), since the written body holds
# quotes of its own.
_PRINTABLE: Final = bytes(range(0x20, 0x7F))


def encode_answer(result: Mapping[str, Any]) -> bytes:
    """``json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()``."""
    members = []
    for name, value in result.items():
        if (
            type(value) is not str
            or type(name) is not str
            or not value.isascii()
            or not name.isascii()
            or '"' in value
            or "\\" in value
            or '"' in name
            or "\\" in name
        ):
            return _dumps(result)
        members.append(f'"{name}":"{value}"')
    body = ("{" + ",".join(members) + "}").encode("ascii")
    if body.translate(None, _PRINTABLE):
        return _dumps(result)  # a control character: JSON escapes it
    return body


def _dumps(result: Mapping[str, Any]) -> bytes:
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
