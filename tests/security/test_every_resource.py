"""Every action that names a resource authorizes every resource it touches (issue 9).

The catalogue is walked, not listed: a RAM user may do everything except on one key (OTHER)
and one secret; every KMS action whose parameters can name that key (by id, ARN, an alias
pointing at it, a blob it sealed, an alias it stands behind, a batch it is one item of, a
secret it encrypts) or that secret is called with it, and must be refused with
``Forbidden.NoPermission``. A parameter that may name a resource must be classified here, so a
new action or parameter cannot be forgotten."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from mamori.api.catalogue import KMS_VERSION, Action
from mamori.api.params import FlatList
from mamori.api.registry import catalogue
from tests.compat.instance_helpers import call, generic
from tests.compat.ram_helpers import RamUser, allow, deny, doc, grant, new_key, new_user, unique
from tests.compat.test_policy_enforcement import _plausible
from tests.conftest import ServerProcess

FORBIDDEN = ("Forbidden.NoPermission", 403)

# A parameter whose name looks like it identifies something (…Id, …Name, …Arn, …Blob, …List,
# …Config, Filters) either names a resource (RESOURCE_PARAMS: each gets cases below) or is
# explained here. (action, parameter) entries explain one action's use of a name.
_LOOKS_LIKE_A_NAME = re.compile(r".*(Id|Name|Arn|Blob|List|Config|Filters)$")
NOT_RESOURCES: dict[str | tuple[str, str], str] = {
    "RegionId": "the region of the request",
    "VersionId": "a version of the secret SecretName names",
    "KeyVersionId": "a version of the key KeyId names, looked up under that key only "
    "(test_a_version_of_another_key_is_not_found)",
    "SourceKeyVersionId": "a version of SourceKeyId, looked up under that key only",
    "PolicyName": "names one of the named key's or secret's own policies",
    "PublicKeyBlob": "the caller's own public key",
    "DataKeyVersionId": "a version of the data key DataKeyName names, looked up under it only",
    "DKMSInstanceId": "a KMS instance: CreateKey and CreateSecret authorize its keystore ARN "
    "(tests/compat/test_instances.py denies one)",
    "KmsInstanceId": "a KMS instance, authorized as its keystore ARN "
    "(tests/compat/test_instances.py::test_instance_actions_are_authorized_on_the_instance)",
    "Filters": "filters a listing of the account, an action on the account",
    "FetchExtendedConfig": "a flag",
    ("AsymmetricDecrypt", "CiphertextBlob"): "raw ciphertext, decrypted by the key KeyId names",
    ("CertificatePrivateKeyDecrypt", "CiphertextBlob"): "raw ciphertext, decrypted by the "
    "certificate CertificateId names",
    ("UpdateSecret", "ExtendedConfig"): "CustomData names nothing",
    ("ConnectKmsInstance", "VpcId"): "a VPC recorded on the instance KmsInstanceId names",
    ("CreateKmsInstance", "InstanceName"): "the new instance's display name",
    # AAPs, their policies, network rules and client keys: a name (or KAAP. id) in the
    # caller's own account only, authorized on its own ARN and on each policy or rule it names
    # (tests/compat/test_aap.py); no parameter of these actions can reach another account's.
    **{
        (action, "Name"): "an AAP, AAP policy or network rule of the caller's account"
        for action in (
            "CreateApplicationAccessPoint",
            "DescribeApplicationAccessPoint",
            "UpdateApplicationAccessPoint",
            "DeleteApplicationAccessPoint",
            "CreatePolicy",
            "DescribePolicy",
            "UpdatePolicy",
            "DeletePolicy",
            "CreateNetworkRule",
            "DescribeNetworkRule",
            "UpdateNetworkRule",
            "DeleteNetworkRule",
        )
    },
    "AapName": "an AAP of the caller's account, authorized on its ARN",
    "ClientKeyId": "a client key of the caller's account, authorized on its ARN",
}
# Actions that use a secret's encryption key: a Deny on that key must refuse them too.
USES_SECRET_KEY = frozenset({"GetSecretValue", "PutSecretValue", "RotateSecret"})


@dataclass(frozen=True)
class World:
    """What the walk names: the caller's own resources, and the one it may not touch."""

    mine: str
    mine_version: str
    mine_alias: str
    mine_blob: str
    mine_secret: str
    other: str
    other_arn: str
    other_version: str
    other_alias: str
    other_blob: str
    other_secret: str
    keyed_secret: str  # a secret the caller may use, encrypted under OTHER
    mine_certificate: str
    other_certificate: str
    mine_data_key: str
    other_data_key: str


def _secret(kms: Client, key: str) -> str:
    name = unique("every")
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name, version_id="v1", secret_data="x", encryption_key_id=key
        )
    )
    return name


def _alias(kms: Client, key: str) -> str:
    alias = f"alias/{unique('every')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key))
    return alias


def _blob(kms: Client, key: str) -> str:
    request = km.EncryptRequest(key_id=key, plaintext=base64.b64encode(b"x").decode())
    return str(kms.encrypt(request).body.ciphertext_blob)


def _meta(kms: Client, key: str) -> Any:
    return kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata


def _certificate(server: ServerProcess) -> str:
    made = call(
        generic(server),
        "CreateCertificate",
        Subject="CN=every.example.com,OU=kms,O=mamori,C=CN",
        KeySpec="EC_P256",
    )
    return str(made["CertificateId"])


def _data_key(server: ServerProcess, key: str) -> str:
    name = unique("every")
    call(generic(server), "CreateManagedDataKey", DataKeyName=name, KeyId=key)
    return name


@pytest.fixture(scope="module")
def world(server: ServerProcess, kms: Client) -> World:
    mine, other = new_key(kms), new_key(kms)
    return World(
        mine=mine,
        mine_version=_meta(kms, mine).primary_key_version,
        mine_alias=_alias(kms, mine),
        mine_blob=_blob(kms, mine),
        mine_secret=_secret(kms, mine),
        other=other,
        other_arn=_meta(kms, other).arn,
        other_version=_meta(kms, other).primary_key_version,
        other_alias=_alias(kms, other),
        other_blob=_blob(kms, other),
        other_secret=_secret(kms, mine),
        keyed_secret=_secret(kms, other),
        mine_certificate=_certificate(server),
        other_certificate=_certificate(server),
        mine_data_key=_data_key(server, mine),
        other_data_key=_data_key(server, mine),
    )


@pytest.fixture
def walker(server: ServerProcess, kms: Client, ram: RamClient, world: World) -> RamUser:
    """Every right, except on OTHER and on the other secret."""
    user = new_user(server, ram, "walker")
    secret_arn = kms.describe_secret(
        km.DescribeSecretRequest(secret_name=world.other_secret)
    ).body.arn
    region_account = world.other_arn.rsplit(":", 1)[0]
    denied = [
        world.other_arn,
        secret_arn,
        f"{region_account}:certificate/{world.other_certificate}",
        f"{region_account}:datakey/{world.other_data_key}",
    ]
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:*", denied)))
    return user


def _rds(admin: str) -> dict[str, str]:
    config = {"SecretSubType": "SingleUser", "DBInstanceId": "x", "AdminSecretName": admin}
    return {"SecretType": "Rds", "ExtendedConfig": json.dumps(config)}


def _secrets_list(name: str) -> str:
    return json.dumps([{"SecretName": name}])


def cases(w: World, action: str, param: str) -> list[tuple[str, dict[str, str | None]]]:
    """Ways ``param`` of ``action`` can name OTHER or the other secret: (label, overrides of
    the action's own-resource query; None removes a parameter)."""
    key = [
        ("OTHER by id", w.other),
        ("OTHER by ARN", w.other_arn),
        ("OTHER's alias", w.other_alias),
    ]
    table: dict[str, list[tuple[str, dict[str, str | None]]]] = {
        "KeyId": [(label, {"KeyId": value}) for label, value in key],
        "DestinationKeyId": [(label, {"DestinationKeyId": value}) for label, value in key],
        "EncryptionKeyId": [(label, {"EncryptionKeyId": value}) for label, value in key],
        "ProtectedResourceArn": [("OTHER's ARN", {"ProtectedResourceArn": w.other_arn})],
        "SourceKeyId": [
            (
                label,
                {
                    "SourceKeyId": value,
                    "SourceKeyVersionId": w.other_version,
                    "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                    "CiphertextBlob": base64.b64encode(b"raw").decode(),
                },
            )
            for label, value in key
        ],
        "CiphertextBlob": [("a blob OTHER sealed", {"CiphertextBlob": w.other_blob})],
        "AliasName": [("an alias of OTHER", {"AliasName": w.other_alias})],
        "SecretName": [("the other secret", {"SecretName": w.other_secret})]
        + (
            [("a secret under OTHER", {"SecretName": w.keyed_secret})]
            if action in USES_SECRET_KEY
            else []
        ),
        "ResourceId": [
            (label, {"ResourceType": "key", "ResourceId.1": w.mine, "ResourceId.2": value})
            for label, value in key
        ]
        + [("the other secret", {"ResourceType": "secret", "ResourceId.1": w.other_secret})],
        "SecretsList": [
            ("the other secret", {"SecretsList": _secrets_list(w.other_secret)}),
            ("a secret under OTHER", {"SecretsList": _secrets_list(w.keyed_secret)}),
        ],
        "CertificateId": [("the other certificate", {"CertificateId": w.other_certificate})],
        "DataKeyName": [("the other data key", {"DataKeyName": w.other_data_key})],
        "ExtendedConfig": [
            ("the other secret as AdminSecretName", _rds(w.other_secret)),
            ("a secret under OTHER as AdminSecretName", _rds(w.keyed_secret)),
        ],
    }
    return table[param]


RESOURCE_PARAMS = frozenset(
    {
        "KeyId",
        "DestinationKeyId",
        "EncryptionKeyId",
        "ProtectedResourceArn",
        "SourceKeyId",
        "CiphertextBlob",
        "AliasName",
        "SecretName",
        "ResourceId",
        "SecretsList",
        "ExtendedConfig",
        "CertificateId",
        "DataKeyName",
    }
)


def _kms_actions() -> list[Action]:
    return [a for a in catalogue().all() if a.version == KMS_VERSION]


def _resource_params(action: Action) -> list[str]:
    return [
        p.name
        for p in action.params
        if p.name in RESOURCE_PARAMS
        and (action.name, p.name) not in NOT_RESOURCES
        and p.name not in NOT_RESOURCES
    ]


def test_every_parameter_that_may_name_a_resource_is_classified() -> None:
    unexplained = {
        (a.name, p.name)
        for a in _kms_actions()
        for p in a.params
        if _LOOKS_LIKE_A_NAME.fullmatch(p.name)
        and p.name not in RESOURCE_PARAMS
        and p.name not in NOT_RESOURCES
        and (a.name, p.name) not in NOT_RESOURCES
    }
    assert not unexplained, f"say whether these name a resource: {sorted(unexplained)}"


def _own(w: World, action: Action) -> dict[str, str]:
    """The action's required parameters, every resource among them the caller's own."""
    own: dict[str, str] = {
        "KeyId": w.mine,
        "DestinationKeyId": w.mine,
        "CiphertextBlob": w.mine_blob,
        "KeyVersionId": w.mine_version,
        "AliasName": w.mine_alias,
        "SecretName": w.mine_secret,
        "SecretsList": _secrets_list(w.mine_secret),
        "ResourceType": "key",
        "VersionId": unique("v"),
        "SecretData": "x",
        "Algorithm": "RSAES_OAEP_SHA_256",
        "Policy": doc(allow("kms:*", Principal={"RAM": ["*"]})),
        "WrappingKeySpec": "RSA_2048",
        "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
        "CertificateId": w.mine_certificate,
        "DataKeyName": w.mine_data_key,
    }
    if action.name.startswith("Create"):
        # A new alias, secret or data key, so that only authorization stands in the way.
        own.update(
            AliasName=f"alias/{unique('every')}",
            SecretName=unique("every"),
            DataKeyName=unique("every"),
        )
    query: dict[str, str] = {}
    for param in action.params:
        if not param.required:
            continue
        if param.name in own:
            suffix = ".1" if isinstance(param, FlatList) else ""
            query[param.name + suffix] = own[param.name]
        else:
            query.update(_plausible(param))
    return query


def _walk(w: World) -> Iterator[tuple[Action, str, str, dict[str, str]]]:
    for action in _kms_actions():
        for param in _resource_params(action):
            for label, overrides in cases(w, action.name, param):
                query = _own(w, action)
                if param == "ResourceId":
                    query.pop("ResourceId.1", None)
                for name, value in overrides.items():
                    if value is None:
                        query.pop(name, None)
                    else:
                        query[name] = value
                yield action, param, label, query


def _outcome(user: RamUser, action: Action, query: dict[str, str]) -> tuple[str, int]:
    """The error code and HTTP status of the call; for BatchGetSecretValue, of its only entry."""
    try:
        body = user.call(action.name, action.version, query)["body"]
    except AlibabaCloudException as exc:
        return str(exc.code), int(exc.status_code or 0)
    errors = body.get("Errors") or []
    if action.name == "BatchGetSecretValue" and errors:
        return str(errors[0]["Code"]), int(errors[0]["HttpStatus"])
    return "OK", 200


def test_every_action_refuses_every_resource_it_may_not_touch(
    world: World, walker: RamUser
) -> None:
    walked: set[str] = set()
    wrong = []
    for action, param, label, query in _walk(world):
        action.parse(query)  # authorization must be what refuses, not a parameter
        outcome = _outcome(walker, action, query)
        if outcome != FORBIDDEN:
            wrong.append(f"{action.name} with {param} = {label}: {outcome}")
        walked.add(action.name)
    assert not wrong, "\n".join(wrong)
    assert {"UpdateAlias", "ReEncrypt", "TagResources", "GetSecretValue", "Encrypt"} <= walked
    named = {a.name for a in _kms_actions() if _resource_params(a)}
    assert walked == named


def test_with_its_own_resources_nothing_is_refused(world: World, walker: RamUser) -> None:
    """The control: with the caller's own resources in every parameter the walk refuses none,
    so each refusal above is the other resource's."""
    refused = []
    for action in _kms_actions():
        if not _resource_params(action):
            continue
        query = _own(world, action)
        if _outcome(walker, action, query) == FORBIDDEN:
            refused.append(action.name)
    assert not refused


def test_a_version_of_another_key_is_not_found(world: World, walker: RamUser) -> None:
    request = km.DescribeKeyVersionRequest(key_id=world.mine, key_version_id=world.other_version)
    with pytest.raises(AlibabaCloudException) as caught:
        walker.kms.describe_key_version(request)
    assert (caught.value.code, caught.value.status_code) == ("Forbidden.KeyVersionNotFound", 404)
