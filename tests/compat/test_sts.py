"""STS through the official clients: AssumeRole and GetCallerIdentity with the STS SDK, the
temporary credentials on KMS with the new SDK (ACS3 and RPC V1) and the old SDK, and the
official credential chain (``alibabacloud-credentials``) pointed at Mamori."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sm
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import models as open_api_models
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest

from mamori.app import open_keyring
from mamori.config import Settings
from mamori.iam.sts import TokenService, load_signing_keys
from mamori.store.database import Database
from tests.compat.sdk import b64, expect_error, new_sdk
from tests.conftest import ROOT, ServerProcess

EXPIRATION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def sts_sdk(
    endpoint: str, ak: str, secret: str, token: str | None = None, **config: Any
) -> StsClient:
    """The new STS SDK (``alibabacloud-sts20150401``) over plain HTTP."""
    return StsClient(
        open_api_models.Config(
            access_key_id=ak,
            access_key_secret=secret,
            security_token=token,
            endpoint=endpoint,
            protocol="http",
            **config,
        )
    )


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def allow(action: str | list[str], resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


@dataclass
class Temp:
    """A set of temporary credentials as AssumeRole returned them."""

    ak: str
    secret: str
    token: str
    expiration: str
    arn: str
    assumed_role_id: str


@dataclass
class World:
    """Principals and roles made for this module (names unique per run)."""

    server: ServerProcess
    account: str
    key_id: str
    user: tuple[str, str, str]  # name, AccessKeyId, secret: may assume roles, read identity
    nobody: tuple[str, str, str]  # no policies at all
    role: Any  # trusts the account; may use KMS crypto
    alice_only: Any  # trusts one user that does not exist
    idle: Any  # trusts the account; no policies (deletable)
    settings: Settings
    db: Database

    def sts(self, who: tuple[str, str, str] | None = None) -> StsClient:
        """An STS client for ``who`` (default: the administrator)."""
        if who is None:
            return sts_sdk(
                self.server.endpoint, self.server.access_key_id, self.server.access_key_secret
            )
        return sts_sdk(self.server.endpoint, who[1], who[2])

    def assume(self, role: Any, who: tuple[str, str, str] | None = None, **fields: Any) -> Temp:
        """AssumeRole through the STS SDK."""
        body = (
            self.sts(who)
            .assume_role(
                sm.AssumeRoleRequest(
                    role_arn=role.arn, role_session_name=fields.pop("session", "s1"), **fields
                )
            )
            .body
        )
        c = body.credentials
        return Temp(
            c.access_key_id,
            c.access_key_secret,
            c.security_token,
            c.expiration,
            body.assumed_role_user.arn,
            body.assumed_role_user.assumed_role_id,
        )

    def kms(self, temp: Temp, **config: Any) -> KmsClient:
        """The new KMS SDK with temporary credentials."""
        return new_sdk(
            self.server.endpoint, temp.ak, temp.secret, security_token=temp.token, **config
        )

    def encrypt(self, client: KmsClient) -> str:
        """Encrypt one byte with the module's key; the ciphertext blob."""
        request = km.EncryptRequest(key_id=self.key_id, plaintext=b64(b"x"))
        return str(client.encrypt(request).body.ciphertext_blob)


def ram_user(ram: RamClient, name: str) -> tuple[str, str, str]:
    """A RAM user and an AccessKey for it, through the RAM SDK."""
    ram.create_user(rm.CreateUserRequest(user_name=name))
    key = ram.create_access_key(rm.CreateAccessKeyRequest(user_name=name)).body.access_key
    return name, key.access_key_id, key.access_key_secret


def ram_role(ram: RamClient, name: str, trust: str, max_session: int = 3600) -> Any:
    """A RAM role through the RAM SDK (its ``arn``, ``role_id`` and ``role_name``)."""
    request = rm.CreateRoleRequest(
        role_name=name, assume_role_policy_document=trust, max_session_duration=max_session
    )
    return ram.create_role(request).body.role


def ram_policy(ram: RamClient, name: str, doc: str, kind: str, principal: str) -> None:
    """A custom policy attached to a ``User`` or ``Role``, through the RAM SDK."""
    ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=doc))
    if kind == "User":
        ram.attach_policy_to_user(
            rm.AttachPolicyToUserRequest(
                policy_type="Custom", policy_name=name, user_name=principal
            )
        )
    else:
        ram.attach_policy_to_role(
            rm.AttachPolicyToRoleRequest(
                policy_type="Custom", policy_name=name, role_name=principal
            )
        )


@pytest.fixture(scope="module")
def world(server: ServerProcess, kms: KmsClient, ram: RamClient) -> Iterator[World]:
    """Users, roles and policies made for this module through the RAM SDK."""
    tag = uuid.uuid4().hex[:8]
    settings = Settings(data_dir=server.data_dir, store_url=server.store_url)
    account = settings.account_id
    root_trust = document(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": [f"acs:ram::{account}:root"]},
        }
    )
    role = ram_role(ram, f"sts-app-{tag}", root_trust, max_session=7200)
    alice_only = ram_role(
        ram,
        f"sts-alice-{tag}",
        document(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"RAM": [f"acs:ram::{account}:user/alice-{tag}"]},
            }
        ),
    )
    idle = ram_role(ram, f"sts-idle-{tag}", root_trust)
    # GetCallerIdentity: see the xfail below.
    crypto = document(allow(["kms:Encrypt", "kms:Decrypt", "sts:GetCallerIdentity"]))
    ram_policy(ram, f"sts-crypto-{tag}", crypto, "Role", role.role_name)
    user = ram_user(ram, f"sts-user-{tag}")
    nobody = ram_user(ram, f"sts-nobody-{tag}")
    assume = document(allow(["sts:AssumeRole", "sts:GetCallerIdentity"]))
    ram_policy(ram, f"sts-assume-{tag}", assume, "User", user[0])
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    db = Database(settings.database_url)
    yield World(server, account, key_id, user, nobody, role, alice_only, idle, settings, db)
    db.close()


# -- AssumeRole -------------------------------------------------------------------------------


def test_the_administrator_assumes_a_role(world: World) -> None:
    before = int(time.time())
    temp = world.assume(world.role, session="admin-session")
    after = int(time.time())
    assert temp.ak.startswith("STS.")
    assert temp.secret and temp.token
    assert EXPIRATION.fullmatch(temp.expiration)
    expires = int(
        datetime.strptime(temp.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    )
    assert before + 3600 <= expires <= after + 3600
    assert temp.arn == f"acs:ram::{world.account}:role/{world.role.role_name}/admin-session"
    assert temp.assumed_role_id == f"{world.role.role_id}:admin-session"


def test_the_response_is_exactly_the_documented_shape(world: World) -> None:
    response = world.sts().assume_role(
        sm.AssumeRoleRequest(
            role_arn=world.role.arn, role_session_name="shape", duration_seconds=7200
        )
    )
    body = response.body.to_map()
    assert sorted(body) == ["AssumedRoleUser", "Credentials", "RequestId"]
    assert sorted(body["Credentials"]) == [
        "AccessKeyId",
        "AccessKeySecret",
        "Expiration",
        "SecurityToken",
    ]
    assert all(isinstance(v, str) for v in body["Credentials"].values())
    assert sorted(body["AssumedRoleUser"]) == ["Arn", "AssumedRoleId"]


def test_a_ram_user_allowed_sts_assume_role_assumes_a_role(world: World) -> None:
    temp = world.assume(world.role, who=world.user, session="user.session@x")
    assert temp.ak.startswith("STS.")
    assert world.encrypt(world.kms(temp))


def test_a_ram_user_without_sts_assume_role_is_refused(world: World) -> None:
    error = expect_error(
        "Forbidden.NoPermission", 403, lambda: world.assume(world.role, who=world.nobody)
    )
    assert "sts:AssumeRole" in error.message


def test_a_trust_policy_that_does_not_name_the_caller_refuses_it(world: World) -> None:
    for who in (None, world.user):
        error = expect_error(
            "Forbidden.NoPermission", 403, lambda w=who: world.assume(world.alice_only, who=w)
        )
        assert "trust policy" in error.message


def test_an_unknown_role_is_entity_not_exist(world: World) -> None:
    arn = f"acs:ram::{world.account}:role/no-such-role-{uuid.uuid4().hex[:6]}"
    expect_error(
        "EntityNotExist.Role",
        404,
        lambda: world.sts().assume_role(sm.AssumeRoleRequest(role_arn=arn, role_session_name="s1")),
    )


def test_role_names_in_the_arn_match_without_regard_to_case(world: World) -> None:
    arn = f"acs:ram::{world.account}:role/{world.role.role_name.upper()}"
    request = sm.AssumeRoleRequest(role_arn=arn, role_session_name="upper")
    assert world.sts().assume_role(request).body.credentials.access_key_id.startswith("STS.")


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"role_session_name": "x"}, "RoleSessionName"),
        ({"role_session_name": "a" * 65}, "RoleSessionName"),
        ({"role_session_name": "bad name"}, "RoleSessionName"),
        ({"duration_seconds": 899}, "DurationSeconds"),
        ({"duration_seconds": 7201}, "DurationSeconds"),  # the role's MaxSessionDuration is 7200
        ({"duration_seconds": 43201}, "DurationSeconds"),
        ({"policy": "{not json"}, "Policy"),
        (
            {"policy": document({"Effect": "allow", "Action": "*", "Resource": "*"})},
            "Policy",
        ),
        ({"policy": "x" * 2049}, "Policy"),
        ({"role_arn": "acs:ram::123:user/bob"}, "RoleArn"),
        ({"external_id": "x"}, "ExternalId"),
    ],
)
def test_bad_parameters_are_invalid_parameter(
    world: World, fields: dict[str, Any], name: str
) -> None:
    request = sm.AssumeRoleRequest(
        **{"role_arn": world.role.arn, "role_session_name": "ok", **fields}
    )
    error = expect_error("InvalidParameter", 400, lambda: world.sts().assume_role(request))
    assert name in error.message


def test_missing_required_parameters(world: World) -> None:
    expect_error(
        "MissingParameter",
        400,
        lambda: world.sts().assume_role(sm.AssumeRoleRequest(role_arn=world.role.arn)),
    )


# -- temporary credentials on KMS -------------------------------------------------------------


def test_temporary_credentials_work_with_the_new_sdk_acs3(world: World) -> None:
    client = world.kms(world.assume(world.role))
    blob = world.encrypt(client)
    plain = client.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body.plaintext
    assert base64.b64decode(plain) == b"x"


def test_temporary_credentials_work_with_rpc_v1_signatures(world: World) -> None:
    client = world.kms(world.assume(world.role), signature_algorithm="v2")
    assert world.encrypt(client)


def test_temporary_credentials_work_with_the_old_sdk(world: World) -> None:
    temp = world.assume(world.role)
    client = AcsClient(
        region_id="cn-hangzhou", credential=StsTokenCredential(temp.ak, temp.secret, temp.token)
    )
    request = EncryptRequest()
    request.set_KeyId(world.key_id)
    request.set_Plaintext(b64(b"x"))
    request.set_endpoint(world.server.endpoint)
    request.set_protocol_type("http")
    body = json.loads(client.do_action_with_exception(request))
    assert body["KeyId"] == world.key_id


def test_the_roles_current_policies_decide(world: World) -> None:
    client = world.kms(world.assume(world.role))
    error = expect_error(
        "Forbidden.NoPermission", 403, lambda: client.list_keys(km.ListKeysRequest())
    )
    assert "kms:ListKeys" in error.message


def test_a_session_policy_only_narrows(world: World) -> None:
    narrow = document(
        allow(["kms:Decrypt", "kms:ListKeys"]),
        {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"},
    )
    client = world.kms(world.assume(world.role, policy=narrow))
    error = expect_error("Forbidden.NoPermission", 403, lambda: world.encrypt(client))
    assert "kms:Encrypt" in error.message
    blob = world.encrypt(world.kms(world.assume(world.role)))
    assert client.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body.key_id == world.key_id
    # ListKeys: the session policy allows it, the role does not; the session cannot widen.
    expect_error("Forbidden.NoPermission", 403, lambda: client.list_keys(km.ListKeysRequest()))


def test_a_tampered_token_is_malformed(world: World) -> None:
    temp = world.assume(world.role)
    middle = len(temp.token) // 2
    flipped = "A" if temp.token[middle] != "A" else "B"
    forged = Temp(
        **{**temp.__dict__, "token": temp.token[:middle] + flipped + temp.token[middle + 1 :]}
    )
    expect_error("InvalidSecurityToken.Malformed", 400, lambda: world.encrypt(world.kms(forged)))
    other = world.assume(world.role)
    swapped = Temp(**{**temp.__dict__, "token": other.token})  # a genuine token, another key id
    expect_error("InvalidSecurityToken.Malformed", 400, lambda: world.encrypt(world.kms(swapped)))


def test_a_wrong_secret_with_a_genuine_token_does_not_match(world: World) -> None:
    temp = world.assume(world.role)
    wrong = Temp(
        **{**temp.__dict__, "secret": temp.secret[:-1] + ("A" if temp.secret[-1] != "A" else "B")}
    )
    expect_error("SignatureDoesNotMatch", 400, lambda: world.encrypt(world.kms(wrong)))


def test_an_sts_key_without_its_token_is_missing_security_token(world: World) -> None:
    temp = world.assume(world.role)
    client = new_sdk(world.server.endpoint, temp.ak, temp.secret)
    expect_error("MissingSecurityToken", 400, lambda: world.encrypt(client))


def test_a_long_term_key_with_a_token_is_malformed(world: World) -> None:
    temp = world.assume(world.role)
    client = new_sdk(
        world.server.endpoint,
        world.server.access_key_id,
        world.server.access_key_secret,
        security_token=temp.token,
    )
    expect_error("InvalidSecurityToken.Malformed", 400, lambda: world.encrypt(client))


def mint(world: World, role: Any, issued: float, duration: int) -> Temp:
    """Credentials minted with the server's own signing key, read from its store with its root
    key (as another node would), at a chosen time."""
    keyring = open_keyring(world.db, world.settings)
    tokens = TokenService(load_signing_keys(world.db, keyring, time.time), lambda: issued)
    creds = tokens.issue(
        account_id=world.account,
        role_name=role.role_name,
        role_id=role.role_id,
        session_name="minted",
        session_policy=None,
        duration=duration,
    )
    s = creds.session
    return Temp(s.access_key_id, creds.access_key_secret, creds.security_token, "", "", "")


def test_a_token_from_another_node_is_accepted_and_an_expired_one_is_not(world: World) -> None:
    fresh = mint(world, world.role, time.time(), 900)
    assert world.encrypt(world.kms(fresh))
    expired = mint(world, world.role, time.time() - 901, 900)
    expect_error("InvalidSecurityToken.Expired", 400, lambda: world.encrypt(world.kms(expired)))
    expect_error(
        "InvalidSecurityToken.Expired",
        400,
        lambda: world.encrypt(world.kms(expired, signature_algorithm="v2")),
    )


def test_a_session_ends_when_its_role_is_deleted(world: World, ram: RamClient) -> None:
    temp = world.assume(world.idle)
    client = world.kms(temp)
    # Authenticated, but the role has no policies: refused by authorization, not authentication.
    expect_error("Forbidden.NoPermission", 403, lambda: client.describe_regions())
    ram.delete_role(rm.DeleteRoleRequest(role_name=world.idle.role_name))
    # The RAM write clears this node's cache at once: no waiting for its ttl.
    expect_error("InvalidSecurityToken.Expired", 400, lambda: client.describe_regions())


# -- GetCallerIdentity ------------------------------------------------------------------------


def identity(client: StsClient) -> dict[str, Any]:
    return dict(client.get_caller_identity().body.to_map())


def test_get_caller_identity_of_the_administrator(world: World) -> None:
    body = identity(world.sts())
    assert body["IdentityType"] == "Account"
    assert body["Arn"] == f"acs:ram::{world.account}:root"
    assert body["AccountId"] == body["PrincipalId"] == body["UserId"] == world.account


def test_get_caller_identity_of_a_ram_user(world: World, ram: RamClient) -> None:
    body = identity(world.sts(world.user))
    user_id = ram.get_user(rm.GetUserRequest(user_name=world.user[0])).body.user.user_id
    assert body["IdentityType"] == "RAMUser"
    assert body["Arn"] == f"acs:ram::{world.account}:user/{world.user[0]}"
    assert body["UserId"] == body["PrincipalId"] == user_id
    assert body["AccountId"] == world.account


def test_get_caller_identity_of_an_assumed_role(world: World) -> None:
    temp = world.assume(world.role, session="who-am-i")
    body = identity(sts_sdk(world.server.endpoint, temp.ak, temp.secret, temp.token))
    role = world.role
    assert body["IdentityType"] == "AssumedRoleUser"
    assert body["Arn"] == f"acs:ram::{world.account}:assumed-role/{role.role_name}/who-am-i"
    assert body["RoleId"] == role.role_id
    assert body["PrincipalId"] == f"{role.role_id}:who-am-i"
    assert body["AccountId"] == world.account


def test_get_caller_identity_needs_no_permission(world: World) -> None:
    assert identity(world.sts(world.nobody))["IdentityType"] == "RAMUser"


# -- the official credential chain ------------------------------------------------------------


def chained_kms(world: World, config: CredentialConfig) -> tuple[KmsClient, StsClient]:
    """KMS and STS clients whose credentials come from ``alibabacloud-credentials``."""
    credential = CredentialClient(config)
    endpoint = world.server.endpoint
    kms = KmsClient(
        open_api_models.Config(credential=credential, endpoint=endpoint, protocol="http")
    )
    sts = StsClient(
        open_api_models.Config(credential=credential, endpoint=endpoint, protocol="http")
    )
    return kms, sts


def test_the_access_key_provider(world: World) -> None:
    kms, sts = chained_kms(
        world,
        CredentialConfig(
            type="access_key",
            access_key_id=world.server.access_key_id,
            access_key_secret=world.server.access_key_secret,
        ),
    )
    assert world.encrypt(kms)
    assert identity(sts)["IdentityType"] == "Account"


def test_the_static_sts_provider(world: World) -> None:
    temp = world.assume(world.role)
    kms, sts = chained_kms(
        world,
        CredentialConfig(
            type="sts",
            access_key_id=temp.ak,
            access_key_secret=temp.secret,
            security_token=temp.token,
        ),
    )
    assert world.encrypt(kms)
    assert identity(sts)["IdentityType"] == "AssumedRoleUser"


def test_the_ram_role_arn_provider_against_mamori_sts(world: World) -> None:
    """The provider calls AssumeRole itself: GET, RPC V1 HMAC-SHA1, Host ``http://…``."""
    kms, sts = chained_kms(
        world,
        CredentialConfig(
            type="ram_role_arn",
            access_key_id=world.user[1],
            access_key_secret=world.user[2],
            role_arn=world.role.arn,
            role_session_name="chain",
            role_session_expiration=3600,
            sts_endpoint=f"http://{world.server.endpoint}",
        ),
    )
    assert world.encrypt(kms)
    body = identity(sts)
    assert body["IdentityType"] == "AssumedRoleUser"
    assert body["Arn"].endswith(f"/{world.role.role_name}/chain")


def narrowed_by_the_provider(world: World, policy: str) -> KmsClient:
    kms, _ = chained_kms(
        world,
        CredentialConfig(
            type="ram_role_arn",
            access_key_id=world.server.access_key_id,
            access_key_secret=world.server.access_key_secret,
            role_arn=world.role.arn,
            role_session_name="narrow",
            policy=policy,
            sts_endpoint=f"http://{world.server.endpoint}",
        ),
    )
    return kms


def test_the_ram_role_arn_provider_with_a_session_policy(world: World) -> None:
    compact = json.dumps(json.loads(document(allow("kms:Decrypt"))), separators=(",", ":"))
    kms = narrowed_by_the_provider(world, compact)
    expect_error("Forbidden.NoPermission", 403, lambda: world.encrypt(kms))


def test_the_ram_role_arn_provider_with_a_session_policy_containing_spaces(world: World) -> None:
    kms = narrowed_by_the_provider(world, document(allow("kms:Decrypt")))
    expect_error("Forbidden.NoPermission", 403, lambda: world.encrypt(kms))


def test_the_ram_role_arn_provider_surfaces_a_refusal(world: World) -> None:
    credential = CredentialClient(
        CredentialConfig(
            type="ram_role_arn",
            access_key_id=world.nobody[1],
            access_key_secret=world.nobody[2],
            role_arn=world.role.arn,
            role_session_name="refused",
            sts_endpoint=f"http://{world.server.endpoint}",
        )
    )
    with pytest.raises(Exception, match="http_code: 403"):
        credential.get_credential()


CHAIN_SCRIPT = """
import json, sys
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import models as open_api_models

config = open_api_models.Config(
    credential=CredentialClient(), endpoint=sys.argv[1], protocol=sys.argv[2]
)
if sys.argv[2] == "https":
    config.ca = sys.argv[3]
body = StsClient(config).get_caller_identity().body.to_map()
print(json.dumps(body))
"""

RAM_ROLE_ARN_TLS_SCRIPT = """
import json, sys
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import models as open_api_models

ak, secret, role_arn, tls_endpoint, endpoint = sys.argv[1:6]
credential = CredentialClient(CredentialConfig(
    type="ram_role_arn", access_key_id=ak, access_key_secret=secret, role_arn=role_arn,
    role_session_name="tls", sts_endpoint=tls_endpoint,
))
config = open_api_models.Config(credential=credential, endpoint=endpoint, protocol="http")
print(json.dumps(StsClient(config).get_caller_identity().body.to_map()))
"""


def run_isolated(script: str, args: list[str], env: dict[str, str], home: Any) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter: ``alibabacloud-credentials`` reads its environment
    once, at import, so each environment needs its own process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={
            **clean,
            "HOME": str(home),
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_the_credentials_file_mamori_writes_feeds_the_default_chain(
    world: World, tmp_path: Any
) -> None:
    credentials = world.server.data_dir / "admin.credentials"
    for protocol, endpoint in (
        ("http", world.server.endpoint),
        ("https", world.server.tls_endpoint),
    ):
        body = run_isolated(
            CHAIN_SCRIPT,
            [endpoint, protocol, str(world.server.ca_file)],
            {"ALIBABA_CLOUD_CREDENTIALS_FILE": str(credentials)},
            tmp_path,
        )
        assert body["IdentityType"] == "Account"
        assert body["Arn"] == f"acs:ram::{world.account}:root"


def test_the_ram_role_arn_provider_over_https_with_ssl_cert_file(
    world: World, tmp_path: Any
) -> None:
    body = run_isolated(
        RAM_ROLE_ARN_TLS_SCRIPT,
        [
            world.server.access_key_id,
            world.server.access_key_secret,
            world.role.arn,
            world.server.tls_endpoint,
            world.server.endpoint,
        ],
        {"SSL_CERT_FILE": str(world.server.ca_file)},
        tmp_path,
    )
    assert body["IdentityType"] == "AssumedRoleUser"
    assert body["Arn"].endswith("/tls")


def test_old_sdk_errors_carry_the_code(world: World) -> None:
    temp = world.assume(world.role)
    client = AcsClient(
        region_id="cn-hangzhou",
        credential=StsTokenCredential(temp.ak, temp.secret, temp.token + "x"),
    )
    request = EncryptRequest()
    request.set_KeyId(world.key_id)
    request.set_Plaintext(b64(b"x"))
    request.set_endpoint(world.server.endpoint)
    request.set_protocol_type("http")
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(request)
    assert caught.value.get_error_code() == "InvalidSecurityToken.Malformed"
