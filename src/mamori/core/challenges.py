"""GetChallenge: a fresh nonce and a ChallengeToken that any node can later check came from
this service, for this account, within its five minutes.

The token has the JWT shape Alibaba's example shows (``header.payload.signature``, unpadded
base64url), but it is Mamori's own: header ``{"alg":"HS256","kid":<signing-key version>,
"typ":"JWT"}``, payload ``{"acct","exp","iat","nonce"}`` (compact JSON, sorted keys), and the
signature HMAC-SHA256 under the STS signing key of that version over ``kms-challenge|`` ‖
header.payload. The label keeps these tags apart from STS's (``sts-token|``, ``sts-secret|``),
which share the key. Nobody but Mamori verifies it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from mamori.crypto.material import KeyMaterial

LIFETIME: Final = 300
NONCE_BYTES: Final = 32
_LABEL: Final = b"kms-challenge|"


@dataclass(frozen=True, slots=True)
class Challenge:
    """A nonce (standard base64 of 32 random bytes) and the token that vouches for it."""

    nonce: str
    token: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


class Challenges:
    """Issues and checks challenge tokens with the STS signing keys."""

    def __init__(self, keys: Mapping[int, KeyMaterial], clock: Callable[[], float]) -> None:
        self._macs = {v: hmac.new(k.reveal(), _LABEL, hashlib.sha256) for v, k in keys.items()}
        self._current = max(keys)
        self._clock = clock

    def _tag(self, version: int, signing_input: bytes) -> bytes:
        mac = self._macs[version].copy()
        mac.update(signing_input)
        return mac.digest()

    def issue(self, account_id: str) -> Challenge:
        """A new challenge for ``account_id``."""
        now = int(self._clock())
        nonce = base64.b64encode(os.urandom(NONCE_BYTES)).decode("ascii")
        header = _b64url(_json({"alg": "HS256", "kid": self._current, "typ": "JWT"}))
        payload = _b64url(
            _json({"acct": account_id, "exp": now + LIFETIME, "iat": now, "nonce": nonce})
        )
        signing_input = f"{header}.{payload}".encode("ascii")
        token = f"{header}.{payload}.{_b64url(self._tag(self._current, signing_input))}"
        return Challenge(nonce, token)

    def check(self, token: str, account_id: str) -> str | None:
        """The nonce a token vouches for, if it is ours, for ``account_id`` and not expired."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=="))
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
            tag = base64.urlsafe_b64decode(parts[2] + "==")
        except ValueError:
            return None
        version = header.get("kid") if isinstance(header, dict) else None
        if not isinstance(version, int) or version not in self._macs:
            return None
        expected = self._tag(version, f"{parts[0]}.{parts[1]}".encode("ascii"))
        if not hmac.compare_digest(expected, tag) or not isinstance(claims, dict):
            return None
        if claims.get("acct") != account_id or not int(self._clock()) < claims.get("exp", 0):
            return None
        nonce = claims.get("nonce")
        return nonce if isinstance(nonce, str) else None
