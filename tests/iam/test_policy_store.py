"""Policies, roles, attachments and key policies on a real store (SQLite and PostgreSQL), and the
authorizer combining them: quotas, caching, and the cross-account rule the gateway cannot reach
yet (it resolves only the caller's own account's KeyIds)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mamori.app import Services, bootstrap, build_services
from mamori.config import Settings
from mamori.core.keys import NewKey
from mamori.core.refs import Scope
from mamori.iam.attachments import Attachments
from mamori.iam.authorize import Allow, Authorizer, Deny, Origin
from mamori.iam.errors import RamLimitExceeded
from mamori.iam.policies import Policies
from mamori.iam.policy import MalformedPolicy, parse_policy
from mamori.iam.principal import Principal
from mamori.iam.roles import Roles
from tests.conftest import create_pg_database, drop_pg_database

OTHER = "2000000000000002"
ORIGIN = Origin("127.0.0.1", False)


@pytest.fixture(params=["sqlite", "postgres"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """Every service over a fresh store, with a second account ``OTHER``."""
    pg = create_pg_database() if request.param == "postgres" else None
    url = pg.url if pg else f"sqlite:///{tmp_path / 'mamori.db'}"
    settings = Settings(data_dir=tmp_path, store_url=url)
    built = build_services(settings, clock=lambda: 1_800_000_000.0)
    bootstrap(built, settings)
    built.accounts.ensure(OTHER)
    try:
        yield built
    finally:
        built.db.close()
        if pg is not None:
            drop_pg_database(pg)


@pytest.fixture
def account(services: Services) -> str:
    return Settings().account_id


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def key_arn(account: str, key_id: str) -> str:
    return f"acs:kms:cn-hangzhou:{account}:key/{key_id}"


def new_key(services: Services, account: str) -> str:
    return services.keys.create(Scope("cn-hangzhou", account), "root", NewKey()).id


def user_with(services: Services, account: str, name: str, document: str | None) -> Principal:
    """A RAM user of ``account``, with ``document`` attached when given."""
    services.directory.create_user(account, name)
    if document is not None:
        services.policies.create(account, f"p-{name}", document)
        services.policies.attachments.attach(account, "Custom", f"p-{name}", "User", name)
    return Principal(account, name, "AK")


# -- quotas ---------------------------------------------------------------------------------------


def test_custom_policy_and_role_quotas(services: Services, account: str) -> None:
    policies = Policies(services.db, lambda: 0.0, parse_policy, max_policies=1)
    policies.create(account, "one", doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    with pytest.raises(RamLimitExceeded) as caught:
        policies.create(account, "two", doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    assert caught.value.code == "LimitExceeded.Policy"
    trust = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}})
    roles = Roles(services.db, lambda: 0.0, lambda d: None, lambda: None, max_roles=1)
    roles.create(account, "r1", trust)
    with pytest.raises(RamLimitExceeded) as caught:
        roles.create(account, "r2", trust)
    assert caught.value.code == "LimitExceeded.Role"


@pytest.mark.parametrize("kind", ["Group", "Role"])
def test_attachment_quota_per_principal(services: Services, account: str, kind: str) -> None:
    if kind == "Group":
        services.directory.create_group(account, "g")
    else:
        trust = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}})
        services.roles.create(account, "g", trust)
    attachments = Attachments(services.db, lambda: 0.0, lambda: None, max_per_principal=1)
    attachments.attach(account, "System", "AliyunKMSFullAccess", kind, "g")
    with pytest.raises(RamLimitExceeded) as caught:
        attachments.attach(account, "System", "AliyunKMSReadOnlyAccess", kind, "g")
    assert caught.value.code == f"LimitExceeded.{kind}.Policy"


# -- roles' policies ------------------------------------------------------------------------------


def test_a_session_of_a_role_gets_its_policies_whatever_the_case(
    services: Services, account: str
) -> None:
    trust = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}})
    services.roles.create(account, "Deploy", trust)
    services.policies.attachments.attach(
        account, "System", "AliyunKMSCryptoUserAccess", "Role", "deploy"
    )
    session = Principal(account, "s1", "STS.x", role="deploy")
    key = key_arn(account, new_key(services, account))
    assert isinstance(services.authorizer.authorize(session, "kms:Encrypt", key, ORIGIN), Allow)
    assert isinstance(services.authorizer.authorize(session, "kms:CreateKey", key, ORIGIN), Deny)


# -- key policies ---------------------------------------------------------------------------------


def test_key_policies_are_cached_and_follow_set_key_policy(
    services: Services, account: str
) -> None:
    key_id = new_key(services, account)
    alice = user_with(services, account, "alice", None)
    key = key_arn(account, key_id)
    assert services.key_policies.lookup(key_id) is not None
    assert services.key_policies.lookup("key-none") is None
    assert isinstance(services.authorizer.authorize(alice, "kms:Encrypt", key, ORIGIN), Deny)
    grant = {"Effect": "Allow", "Principal": {"RAM": [alice.arn]}, "Action": "kms:Encrypt"}
    services.key_policies.set(key_id, doc(grant))
    assert isinstance(services.authorizer.authorize(alice, "kms:Encrypt", key, ORIGIN), Allow)
    services.key_policies.set(key_id, doc({**grant, "Action": "kms:Decrypt"}))
    assert isinstance(services.authorizer.authorize(alice, "kms:Encrypt", key, ORIGIN), Deny)
    with pytest.raises(MalformedPolicy):
        services.key_policies.set(key_id, doc({**grant, "Principal": {"Service": ["x"]}}))
    assert (
        json.loads(services.key_policies.document(key_id) or "")["Statement"][0]["Action"]
        == "kms:Decrypt"
    )


def test_across_accounts_the_identity_and_the_key_policy_must_both_allow(
    services: Services, account: str
) -> None:
    key_id = new_key(services, account)
    key = key_arn(account, key_id)
    allowed = doc({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"})
    bob = user_with(services, OTHER, "bob", allowed)
    carol = user_with(services, OTHER, "carol", None)
    authorize = services.authorizer.authorize

    # Bob's own account allows him; the key's owner has said nothing.
    decision = authorize(bob, "kms:Encrypt", key, ORIGIN)
    assert isinstance(decision, Deny) and "resource policy" in decision.reason
    services.key_policies.set(
        key_id,
        doc(
            {
                "Effect": "Allow",
                "Principal": {"RAM": [bob.arn, carol.arn]},
                "Action": "kms:Encrypt",
            }
        ),
    )
    assert isinstance(authorize(bob, "kms:Encrypt", key, ORIGIN), Allow)
    # Carol is named by the key policy but her own account grants her nothing.
    assert isinstance(authorize(carol, "kms:Encrypt", key, ORIGIN), Deny)
    # The key's policy speaks only for its own ARN, not for one naming another owner.
    third = key_arn("3000000000000003", key_id)
    assert isinstance(authorize(bob, "kms:Encrypt", third, ORIGIN), Deny)


def test_within_the_account_either_grant_suffices_and_any_deny_wins(
    services: Services, account: str
) -> None:
    key_id = new_key(services, account)
    key = key_arn(account, key_id)
    dave = user_with(services, account, "dave", None)
    erin = user_with(
        services, account, "erin", doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    )
    services.key_policies.set(
        key_id,
        doc(
            {"Effect": "Allow", "Principal": {"RAM": [dave.arn]}, "Action": "kms:Encrypt"},
            {"Effect": "Deny", "Principal": {"RAM": [erin.arn]}, "Action": "kms:Decrypt"},
        ),
    )
    authorize = services.authorizer.authorize
    assert isinstance(authorize(dave, "kms:Encrypt", key, ORIGIN), Allow)
    assert isinstance(authorize(erin, "kms:Encrypt", key, ORIGIN), Allow)
    decision = authorize(erin, "kms:Decrypt", key, ORIGIN)
    assert isinstance(decision, Deny) and decision.explicit


def test_a_session_policy_narrows_a_key_policy_grant(services: Services, account: str) -> None:
    key_id = new_key(services, account)
    key = key_arn(account, key_id)
    services.key_policies.set(
        key_id,
        doc(
            {
                "Effect": "Allow",
                "Principal": {"RAM": [f"acs:ram::{account}:assumed-role/app/*"]},
                "Action": "kms:*",
            }
        ),
    )
    narrow = doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    session = Principal(account, "s1", "STS.x", role="app", session_policy=narrow)
    authorize = services.authorizer.authorize
    assert isinstance(authorize(session, "kms:Decrypt", key, ORIGIN), Allow)
    assert isinstance(authorize(session, "kms:Encrypt", key, ORIGIN), Deny)
    wide = Principal(account, "s2", "STS.y", role="app")
    assert isinstance(authorize(wide, "kms:Encrypt", key, ORIGIN), Allow)


def test_the_authorizer_works_without_a_key_policy_store(services: Services, account: str) -> None:
    authorizer = Authorizer(services.policies, lambda: 1_800_000_000.0)
    frank = user_with(services, account, "frank", None)
    key = key_arn(account, new_key(services, account))
    assert isinstance(authorizer.authorize(frank, "kms:Encrypt", key, ORIGIN), Deny)


class _Untouchable(Mapping[str, str]):
    """Tags that fail the test if anything looks at them."""

    def __getitem__(self, key: str) -> str:
        raise AssertionError("tags were read")

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("tags were read")

    def __len__(self) -> int:
        raise AssertionError("tags were read")


def test_key_tags_are_not_read_unless_a_condition_asks(services: Services) -> None:
    """Reading tags costs a store query; the hot path must not pay it for tag-free policies."""
    account = Settings().account_id
    services.directory.create_user(account, "hot-path")
    services.policies.attachments.attach(
        account, "System", "AliyunKMSCryptoUserAccess", "User", "hot-path"
    )
    decision = services.authorizer.authorize(
        Principal(account, "hot-path", "LTAIx"),
        "kms:Encrypt",
        f"acs:kms:cn-hangzhou:{account}:key/key-x",
        Origin("127.0.0.1", False),
        resource_tags=_Untouchable(),
    )
    assert isinstance(decision, Allow)
