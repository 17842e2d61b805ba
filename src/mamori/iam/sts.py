"""STS temporary credentials that verify themselves: any node checks a SecurityToken with the
signing key it loaded at start, without a store read, and derives the AccessKeySecret from it.

A SecurityToken is the ASCII prefix ``MSTS1.`` followed by unpadded base64url of::

    offset  size  field
    0       4     signing-key version, big-endian
    4       n     claims: UTF-8 JSON object, compact, keys sorted (below)
    4+n     32    tag = HMAC-SHA256(signing key, b"sts-token|" ‖ bytes 0 … 4+n)

Claims (every one required, no others): ``acct`` account id, ``role`` role name, ``rid`` role
id, ``sess`` session name, ``pol`` session policy (string or null), ``akid`` the temporary
AccessKeyId, ``iat`` issued-at and ``exp`` expiry (integer epoch seconds), ``jti`` token id
(22 base64url characters: 16 random bytes).

AccessKeySecret = unpadded base64url(HMAC-SHA256(signing key, b"sts-secret|" ‖ jti)). It is never
stored: whoever holds the signing key can recompute it from a token whose tag verified. The two
MAC inputs start with different fixed labels, so a tag can never be replayed as a secret.

The token is signed, not encrypted: it carries nothing its holder did not choose or may not know
(the session policy is the caller's own). It is bound to its AccessKeyId, so a token presented
with another id is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from mamori.core.cache import LruCache
from mamori.core.errors import DomainError
from mamori.core.invalidation import Invalidations
from mamori.crypto.material import KeyMaterial
from mamori.iam.errors import EntityNotExist
from mamori.iam.principal import Principal
from mamori.iam.roles import Roles
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

PREFIX: Final = "MSTS1."
ACCESS_KEY_PREFIX: Final = "STS."
MAX_TOKEN_CHARS: Final = 16_384
"""Far above any real token (a 2,048-character session policy at 4 bytes a character, in
base64): a bound that keeps decoding cheap for whatever arrives in a header."""

_HEAD: Final = struct.Struct(">I")
_TAG: Final = 32
_TOKEN_LABEL: Final = b"sts-token|"
_SECRET_LABEL: Final = b"sts-secret|"
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_ALPHABET: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_SPARE_BITS: Final = {0: 0, 2: 0b1111, 3: 0b11}
"""Unused low bits of the last base64 character, by length mod 4 (1 is never valid)."""
_ALNUM: Final = string.ascii_letters + string.digits
_CLAIMS: Final = frozenset({"acct", "role", "rid", "sess", "pol", "akid", "iat", "exp", "jti"})


class InvalidSecurityToken(DomainError):
    """The token is not one we signed (``Malformed``) or its session is over (``Expired``)."""

    def __init__(self, reason: Literal["Malformed", "Expired"]) -> None:
        self.code = f"InvalidSecurityToken.{reason}"
        super().__init__()


@dataclass(frozen=True, slots=True)
class Session:
    """The verified contents of a SecurityToken."""

    account_id: str
    role_name: str
    role_id: str
    session_name: str
    session_policy: str | None
    access_key_id: str
    issued_at: int
    expires_at: int
    token_id: str

    @property
    def principal(self) -> Principal:
        """The caller a request signed with these credentials acts as."""
        return Principal(
            self.account_id,
            self.session_name,
            self.access_key_id,
            role=self.role_name,
            session_policy=self.session_policy,
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """What AssumeRole hands out; the secret and token never appear in ``repr``."""

    session: Session
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    """Strict unpadded base64url: only the canonical spelling of some bytes decodes."""
    spare = _SPARE_BITS.get(len(text) % 4)
    if spare is None or _B64URL.fullmatch(text) is None:
        return None
    # Unused low bits of the last character could spell one token several ways; refuse that.
    if spare and _ALPHABET.index(text[-1]) & spare:
        return None
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(session: Session) -> dict[str, Any]:
    return {
        "acct": session.account_id,
        "role": session.role_name,
        "rid": session.role_id,
        "sess": session.session_name,
        "pol": session.session_policy,
        "akid": session.access_key_id,
        "iat": session.issued_at,
        "exp": session.expires_at,
        "jti": session.token_id,
    }


def _session(claims: object) -> Session | None:
    if type(claims) is not dict or claims.keys() != _CLAIMS:
        return None
    texts = (claims["acct"], claims["role"], claims["rid"], claims["sess"], claims["akid"])
    iat, exp, policy, jti = claims["iat"], claims["exp"], claims["pol"], claims["jti"]
    for value in (*texts, jti):
        if type(value) is not str:
            return None
    if type(iat) is not int or type(exp) is not int:
        return None
    if policy is not None and type(policy) is not str:
        return None
    account, role, role_id, session_name, access_key_id = texts
    return Session(account, role, role_id, session_name, policy, access_key_id, iat, exp, jti)


class TokenService:
    """Issues temporary credentials and verifies the tokens of incoming requests."""

    def __init__(
        self,
        keys: Mapping[int, KeyMaterial],
        clock: Callable[[], float],
        cache_size: int = 1024,
    ) -> None:
        if not keys:
            raise ValueError("at least one STS signing key is needed")
        # One keyed HMAC state per version and label; copying it skips re-keying per request.
        self._token_macs = {
            v: hmac.new(k.reveal(), _TOKEN_LABEL, hashlib.sha256) for v, k in keys.items()
        }
        self._secret_macs = {
            v: hmac.new(k.reveal(), _SECRET_LABEL, hashlib.sha256) for v, k in keys.items()
        }
        self._current = max(keys)
        self._clock = clock
        # Tokens already verified (only those): a client sends one token on many requests.
        self._verified: LruCache[str, tuple[Session, str]] = LruCache(cache_size, "sts_token")

    def now(self) -> float:
        """The clock sessions are issued and checked against."""
        return self._clock()

    def issue(
        self,
        *,
        account_id: str,
        role_name: str,
        role_id: str,
        session_name: str,
        session_policy: str | None,
        duration: int,
    ) -> Credentials:
        """Mint credentials valid from now for ``duration`` seconds."""
        now = int(self._clock())
        session = Session(
            account_id=account_id,
            role_name=role_name,
            role_id=role_id,
            session_name=session_name,
            session_policy=session_policy,
            access_key_id=ACCESS_KEY_PREFIX + "".join(secrets.choice(_ALNUM) for _ in range(24)),
            issued_at=now,
            expires_at=now + duration,
            token_id=_b64(os.urandom(16)),
        )
        payload = json.dumps(
            _claims(session), ensure_ascii=False, separators=(",", ":"), sort_keys=True
        ).encode("utf-8")
        body = _HEAD.pack(self._current) + payload
        token = PREFIX + _b64(body + self._tag(self._current, body))
        return Credentials(session, self._secret(self._current, session.token_id), token)

    def verify(self, token: str, access_key_id: str, now: float) -> tuple[Session, str]:
        """The session a token stands for and its AccessKeySecret, or ``InvalidSecurityToken``:
        Malformed when it is not ours or names another AccessKeyId, Expired when over."""
        opened = self._verified.get(token)
        if opened is None:
            opened = self._open(token)
            self._verified.put(token, opened)
        session = opened[0]
        if now >= session.expires_at:
            raise InvalidSecurityToken("Expired")
        if session.access_key_id != access_key_id:
            raise InvalidSecurityToken("Malformed")
        return opened

    def _open(self, token: str) -> tuple[Session, str]:
        if len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX):
            raise InvalidSecurityToken("Malformed")
        raw = _unb64(token[len(PREFIX) :])
        if raw is None or len(raw) < _HEAD.size + 2 + _TAG:
            raise InvalidSecurityToken("Malformed")
        body, tag = raw[:-_TAG], raw[-_TAG:]
        (version,) = _HEAD.unpack_from(body)
        if version not in self._token_macs or not hmac.compare_digest(
            self._tag(version, body), tag
        ):
            raise InvalidSecurityToken("Malformed")
        # Only bytes we signed get this far, so the JSON below is our own.
        try:
            session = _session(json.loads(body[_HEAD.size :].decode("utf-8")))
        except ValueError:
            session = None
        if session is None:
            raise InvalidSecurityToken("Malformed")
        return session, self._secret(version, session.token_id)

    def _tag(self, version: int, body: bytes) -> bytes:
        mac = self._token_macs[version].copy()
        mac.update(body)
        return mac.digest()

    def _secret(self, version: int, token_id: str) -> str:
        mac = self._secret_macs[version].copy()
        mac.update(token_id.encode("utf-8"))
        return _b64(mac.digest())


class LiveRoles:
    """Ends a session whose role was deleted (or deleted and re-created: a new role id).

    One store read per role per ``ttl`` seconds at most; ``forget_all`` (called on every RAM
    change) makes a deletion effective at once on every node that hears of it, the ttl bounds
    it otherwise.
    """

    def __init__(
        self,
        roles: Roles,
        clock: Callable[[], float],
        ttl: float = 5.0,
        capacity: int = 4096,
        bus: Invalidations | None = None,
    ) -> None:
        self._roles = roles
        self._clock = clock
        self._ttl = ttl
        self._cache: LruCache[tuple[str, str], tuple[str, float]] = LruCache(capacity)
        self._bus = bus or Invalidations()
        self._bus.register("live_roles", lambda _args: self._cache.clear(), self._cache.clear)

    def ensure(self, session: Session) -> None:
        """Raise ``InvalidSecurityToken.Expired`` unless the session's role still exists."""
        key = (session.account_id, session.role_name)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[1] >= self._ttl:
            self._cache.discard(key)
        # get_or_load does not cache a read that raced with forget_all (a deletion).
        role_id, _ = self._cache.get_or_load(key, lambda k: (self._role_id(*k), now)) or ("", now)
        if role_id != session.role_id:
            raise InvalidSecurityToken("Expired")

    def _role_id(self, account_id: str, role_name: str) -> str:
        try:
            return self._roles.get(account_id, role_name).role_id
        except EntityNotExist:
            return ""

    def forget_all(self) -> None:
        """Drop every cached answer (after any RAM change), on every node."""
        self._bus.publish("live_roles")


def _binding(version: int) -> bytes:
    return f"sts-signing-key/{version}".encode()


def load_signing_keys(
    db: Database, keyring: Keyring, clock: Callable[[], float]
) -> dict[int, KeyMaterial]:
    """Every STS signing key, unwrapped; the first start (of any node) creates version 1."""
    rows = _signing_key_rows(db)
    if not rows:
        try:
            with db.begin() as conn:
                conn.execute(
                    insert(t.sts_signing_keys).values(
                        version=1,
                        wrapped_key=keyring.wrap(os.urandom(32), _binding(1)),
                        created_at=int(clock()),
                    )
                )
        except IntegrityError:
            pass  # another node created it first; use theirs
        rows = _signing_key_rows(db)
    return {version: keyring.unwrap(wrapped, _binding(version)) for version, wrapped in rows}


def _signing_key_rows(db: Database) -> list[tuple[int, bytes]]:
    with db.read() as conn:
        rows = conn.execute(
            select(t.sts_signing_keys.c.version, t.sts_signing_keys.c.wrapped_key)
        ).all()
    return [(r.version, r.wrapped_key) for r in rows]
