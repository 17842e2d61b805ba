"""STS tokens (``mamori.iam.sts``) and trust policies (``mamori.iam.trust``), without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mamori.api.errors import ERRORS
from mamori.crypto.material import KeyMaterial
from mamori.iam.authorize import Origin
from mamori.iam.errors import EntityNotExist
from mamori.iam.policy import Allow, Deny
from mamori.iam.principal import Principal
from mamori.iam.roles import Role
from mamori.iam.sts import (
    MAX_TOKEN_CHARS,
    PREFIX,
    InvalidSecurityToken,
    LiveRoles,
    Session,
    TokenService,
    load_signing_keys,
)
from mamori.iam.trust import may_assume
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

ACCOUNT = "1234567890123456"
KEY = KeyMaterial(b"k" * 32)
T0 = 1_800_000_000.0


class Clock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def service(key: KeyMaterial = KEY, version: int = 1, clock: Clock | None = None) -> TokenService:
    return TokenService({version: key}, clock or Clock())


def mint(tokens: TokenService, policy: str | None = None, duration: int = 900) -> tuple[str, ...]:
    creds = tokens.issue(
        account_id=ACCOUNT,
        role_name="App",
        role_id="3000000000000000001",
        session_name="alice",
        session_policy=policy,
        duration=duration,
    )
    return creds.session.access_key_id, creds.access_key_secret, creds.security_token


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(claims: object, key: bytes = KEY.reveal(), version: int = 1) -> str:
    """A token laid out as documented, tagged with ``key``: what only the key holder can make."""
    body = struct.pack(">I", version) + json.dumps(claims).encode()
    tag = hmac.new(key, b"sts-token|" + body, hashlib.sha256).digest()
    return PREFIX + b64(body + tag)


# -- issue and verify -------------------------------------------------------------------------


def test_a_token_verifies_and_yields_the_issued_secret() -> None:
    tokens = service()
    ak, secret, token = mint(tokens, policy='{"Version":"1","Statement":[]}')
    session, derived = tokens.verify(token, ak, T0 + 1)
    assert derived == secret
    assert ak.startswith("STS.") and len(ak) == 28
    assert (session.account_id, session.role_name, session.session_name) == (
        ACCOUNT,
        "App",
        "alice",
    )
    assert session.session_policy == '{"Version":"1","Statement":[]}'
    assert (session.issued_at, session.expires_at) == (int(T0), int(T0) + 900)
    assert session.principal == Principal(
        ACCOUNT, "alice", ak, role="App", session_policy='{"Version":"1","Statement":[]}'
    )


def test_any_node_with_the_signing_key_derives_the_same_secret() -> None:
    ak, secret, token = mint(service())
    other_node = service()
    assert other_node.verify(token, ak, T0)[1] == secret


def test_each_issue_is_a_new_key_id_secret_and_token() -> None:
    tokens = service()
    first, second = mint(tokens), mint(tokens)
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_the_byte_layout_is_the_documented_one() -> None:
    ak, secret, token = mint(service())
    assert token.startswith(PREFIX)
    raw = unb64(token[len(PREFIX) :])
    body, tag = raw[:-32], raw[-32:]
    assert struct.unpack(">I", body[:4]) == (1,)
    claims = json.loads(body[4:])
    assert sorted(claims) == ["acct", "akid", "exp", "iat", "jti", "pol", "rid", "role", "sess"]
    assert list(claims) == sorted(claims)  # keys sorted, compact
    assert b" " not in body[4:]
    assert claims["akid"] == ak and claims["pol"] is None
    assert tag == hmac.new(KEY.reveal(), b"sts-token|" + body, hashlib.sha256).digest()
    expected = hmac.new(KEY.reveal(), b"sts-secret|" + claims["jti"].encode(), hashlib.sha256)
    assert secret == b64(expected.digest())


def test_expiry_is_exclusive_and_uses_the_injected_now() -> None:
    tokens = service()
    ak, _, token = mint(tokens, duration=900)
    tokens.verify(token, ak, T0 + 899)
    for late in (T0 + 900, T0 + 10_000):
        with pytest.raises(InvalidSecurityToken) as caught:
            tokens.verify(token, ak, late)
        assert caught.value.code == "InvalidSecurityToken.Expired"


def malformed(tokens: TokenService, token: str, ak: str) -> None:
    with pytest.raises(InvalidSecurityToken) as caught:
        tokens.verify(token, ak, T0)
    assert caught.value.code == "InvalidSecurityToken.Malformed"
    assert caught.value.code in ERRORS


def test_a_token_for_another_access_key_id_is_malformed() -> None:
    tokens = service()
    ak, _, token = mint(tokens)
    other_ak, _, _ = mint(tokens)
    malformed(tokens, token, other_ak)
    tokens.verify(token, ak, T0)
    malformed(tokens, token, other_ak)  # a verified (cached) token is still bound to its id


def test_any_changed_character_is_malformed() -> None:
    tokens = service()
    ak, _, token = mint(tokens)
    for at in (0, 3, len(PREFIX), len(PREFIX) + 8, len(token) // 2, len(token) - 1):
        flipped = "A" if token[at] != "A" else "B"
        malformed(tokens, token[:at] + flipped + token[at + 1 :], ak)


def test_altered_claims_with_a_recomputed_tag_need_the_key() -> None:
    tokens = service()
    ak, _, token = mint(tokens)
    raw = unb64(token[len(PREFIX) :])
    claims = json.loads(raw[4:-32])
    claims["exp"] += 86_400
    malformed(tokens, forge(claims, key=b"x" * 32), ak)
    # With the key it verifies: the tag, and nothing else, is what makes a token genuine.
    assert tokens.verify(forge(claims), ak, T0)[0].expires_at == claims["exp"]


def test_a_token_signed_by_another_deployment_is_malformed() -> None:
    ak, _, token = mint(service(KeyMaterial(os.urandom(32))))
    malformed(service(), token, ak)


def test_an_unknown_key_version_is_malformed() -> None:
    ak, _, token = mint(service(version=2))
    malformed(service(version=1), token, ak)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "MSTS1.",
        "MSTS2.AAAA",
        "msts1.AAAA",
        PREFIX + "A",
        PREFIX + "AAAA====",
        PREFIX + "AA+/",
        PREFIX + "AAAA\n",
        PREFIX + "é" * 10,
        PREFIX + "A" * (MAX_TOKEN_CHARS + 1),
    ],
)
def test_garbage_is_malformed(token: str) -> None:
    malformed(service(), token, "STS.x")


def test_a_non_canonical_spelling_is_malformed() -> None:
    tokens = service()
    for name in ("s", "ss", "sss"):  # one of three lengths leaves spare bits in the last char
        token = forge({**CLAIMS, "sess": name})
        if len(unb64(token[len(PREFIX) :])) % 3:
            break
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert unb64(sibling[len(PREFIX) :]) == unb64(token[len(PREFIX) :])
    tokens.verify(token, "STS.forged", T0)
    malformed(tokens, sibling, "STS.forged")


CLAIMS = {
    "acct": ACCOUNT,
    "role": "App",
    "rid": "1",
    "sess": "s",
    "pol": None,
    "akid": "STS.forged",
    "iat": int(T0),
    "exp": int(T0) + 900,
    "jti": "j",
}


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"iat": True},
        {"exp": "1900000000"},
        {"pol": 5},
        {"acct": None},
    ],
)
def test_claims_of_the_wrong_shape_are_malformed_even_when_tagged(
    change: dict[str, object],
) -> None:
    claims = dict(CLAIMS)
    tokens = service()
    assert tokens.verify(forge(claims), "STS.forged", T0)[0].session_name == "s"
    malformed(tokens, forge({**claims, **change}), "STS.forged")
    malformed(tokens, forge([claims]), "STS.forged")


def test_secrets_never_show_in_repr() -> None:
    creds = service().issue(
        account_id=ACCOUNT,
        role_name="App",
        role_id="1",
        session_name="s",
        session_policy=None,
        duration=900,
    )
    shown = repr(creds)
    assert creds.access_key_secret not in shown
    assert creds.security_token not in shown


# -- the signing key in the store -------------------------------------------------------------


def test_the_signing_key_is_created_once_and_stored_wrapped(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    keyring = Keyring(KeyMaterial(os.urandom(32)), [])
    keyring.new_version(lambda _v, _w: None)
    try:
        first = load_signing_keys(db, keyring, Clock())
        again = load_signing_keys(db, keyring, Clock())
        with db.read() as conn:
            rows = conn.execute(select(t.sts_signing_keys)).all()
    finally:
        db.close()
    assert list(first) == [1] and len(first[1]) == 32
    assert again[1].reveal() == first[1].reveal()
    assert len(rows) == 1
    assert first[1].reveal() not in rows[0].wrapped_key
    assert rows[0].created_at == int(T0)


# -- sessions end with their role -------------------------------------------------------------


class FakeRoles:
    """``Roles.get`` over a dict, counting reads."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {"app": "3000000000000000001"}
        self.reads = 0

    def get(self, account: str, name: str) -> Role:
        self.reads += 1
        role_id = self.ids.get(name.lower())
        if role_id is None:
            raise EntityNotExist("Role", name)
        return Role(account, name, role_id, "", "{}", 3600, 0, 0)


def session() -> Session:
    ak, _, token = mint(service())
    return service().verify(token, ak, T0)[0]


def test_a_session_ends_when_its_role_is_deleted_or_replaced() -> None:
    roles, clock = FakeRoles(), Clock()
    live = LiveRoles(roles, clock, ttl=5.0)  # type: ignore[arg-type]
    current = session()
    live.ensure(current)
    live.ensure(current)
    assert roles.reads == 1  # cached
    del roles.ids["app"]
    live.ensure(current)  # still cached on this node until a change or the ttl
    live.forget_all()
    with pytest.raises(InvalidSecurityToken) as caught:
        live.ensure(current)
    assert caught.value.code == "InvalidSecurityToken.Expired"
    roles.ids["app"] = "3000000000000000002"  # re-created under the same name
    clock.now += 5
    with pytest.raises(InvalidSecurityToken):
        live.ensure(current)
    live.ensure(replace(current, role_id="3000000000000000002"))


# -- trust policies ---------------------------------------------------------------------------

NOW = datetime(2027, 1, 1, tzinfo=UTC)
ADMIN = Principal(ACCOUNT, "root", "LTAIadmin")
ALICE = Principal(ACCOUNT, "alice", "LTAIalice")
BOB = Principal(ACCOUNT, "bob", "LTAIbob")
STRANGER = Principal("9999999999999999", "eve", "LTAIeve")


def role(*statements: dict[str, object]) -> Role:
    trust = json.dumps({"Version": "1", "Statement": list(statements)})
    return Role(ACCOUNT, "App", "3000000000000000001", "", trust, 3600, 0, 0)


def trusts(principals: object, effect: str = "Allow") -> dict[str, object]:
    return {"Effect": effect, "Action": "sts:AssumeRole", "Principal": principals}


def test_the_account_root_in_a_trust_policy_admits_every_identity_of_that_account() -> None:
    app = role(trusts({"RAM": [f"acs:ram::{ACCOUNT}:root"]}))
    assert isinstance(may_assume(app, ADMIN, Origin(), NOW), Allow)
    assert isinstance(may_assume(app, ALICE, Origin(), NOW), Allow)
    assumed = Principal(ACCOUNT, "s", "STS.x", role="Other")
    assert isinstance(may_assume(app, assumed, Origin(), NOW), Allow)
    assert isinstance(may_assume(app, STRANGER, Origin(), NOW), Deny)


def test_a_user_arn_admits_only_that_user() -> None:
    app = role(trusts({"RAM": [f"acs:ram::{ACCOUNT}:user/alice"]}))
    assert isinstance(may_assume(app, ALICE, Origin(), NOW), Allow)
    refused = may_assume(app, BOB, Origin(), NOW)
    assert isinstance(refused, Deny) and "user/bob" in refused.reason
    assert isinstance(may_assume(app, ADMIN, Origin(), NOW), Deny)


def test_a_star_admits_anyone_and_an_explicit_deny_wins() -> None:
    assert isinstance(may_assume(role(trusts("*")), STRANGER, Origin(), NOW), Allow)
    app = role(
        trusts({"RAM": [f"acs:ram::{ACCOUNT}:root"]}),
        trusts({"RAM": [f"acs:ram::{ACCOUNT}:user/bob"]}, effect="Deny"),
    )
    assert isinstance(may_assume(app, ALICE, Origin(), NOW), Allow)
    refused = may_assume(app, BOB, Origin(), NOW)
    assert isinstance(refused, Deny) and refused.explicit


def test_a_trust_statement_for_another_action_admits_nobody() -> None:
    app = role({**trusts("*"), "Action": "sts:AssumeRoleWithSAML"})
    assert isinstance(may_assume(app, ADMIN, Origin(), NOW), Deny)
