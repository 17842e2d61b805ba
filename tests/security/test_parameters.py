"""Parameter and encoding attacks (issue 9, items 13-15) against a real server.

13. EncryptionContext → AAD must be injective: a map whose ``k=v&k=v`` form another map shares
    is refused, so a context condition always sees the map the blob was sealed under.
14. A documented parameter Mamori does not implement (``Recipient``) is refused, never dropped.
15. A lone UTF-16 surrogate in any JSON parameter is ``InvalidParameter``, never a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mamori.api import unimplemented
from mamori.api.catalogue import KMS_VERSION, Action
from mamori.api.params import FlatList, FlatTags, JsonMap, JsonParam, Param
from mamori.api.registry import catalogue
from mamori.client import Client as RawClient
from mamori.client import MamoriError
from mamori.client._client import RAM, STS
from tests.compat.ram_helpers import allow, deny, doc, grant, new_user, unique
from tests.compat.sdk import b64, expect_error
from tests.conftest import ServerProcess

INVALID = ("InvalidParameter", 400)
UNSUPPORTED = ("Rejected.UnsupportedOperation", 400)


@pytest.fixture(scope="module")
def raw(server: ServerProcess) -> Iterator[RawClient]:
    """Signed HTTP with the administrator's AccessKey: any parameter, any value."""
    with RawClient(server.endpoint, server.access_key_id, server.access_key_secret) as client:
        yield client


@pytest.fixture(scope="module")
def key(kms: Client) -> str:
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)


@pytest.fixture(scope="module")
def wrapping_public_key() -> str:
    private = rsa.generate_private_key(65537, 2048)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64(der)


def refused_by(
    code: str, status: int, raw: RawClient, action: str, version: str = KMS_VERSION, **params: str
) -> MamoriError:
    """Call ``action`` with raw parameters and check it is refused with exactly this error."""
    with pytest.raises(MamoriError) as info:
        raw.call(action, version, **params)
    assert (info.value.code, info.value.status) == (code, status), info.value.message
    return info.value


def encrypt(kms: Client, key: str, context: dict[str, Any] | None) -> str:
    request = km.EncryptRequest(
        key_id=key, plaintext=b64(b"top secret"), encryption_context=context
    )
    return str(kms.encrypt(request).body.ciphertext_blob)


def decrypt(kms: Client, blob: str, context: dict[str, Any] | None) -> bytes:
    request = km.DecryptRequest(ciphertext_blob=blob, encryption_context=context)
    return base64.b64decode(kms.decrypt(request).body.plaintext)


# -- 13. EncryptionContext → AAD is injective ----------------------------------------------------


def test_a_context_spelling_another_map_cannot_decrypt_past_a_deny_on_it(
    server: ServerProcess, kms: Client, ram: RamClient, key: str
) -> None:
    """The issue's attack: a Deny on ``classification=secret`` and a blob sealed under
    {"classification": "secret", "owner": "bob"}; the map {"classification=secret&owner": "bob"}
    has the same ``k=v&k=v`` form but no ``classification`` key for the condition to see."""
    user = new_user(server, ram, "ctx")
    condition = {"StringEquals": {"kms:EncryptionContext/classification": "secret"}}
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:Decrypt", Condition=condition)))
    sealed_under = {"classification": "secret", "owner": "bob"}
    blob = encrypt(kms, key, sealed_under)
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.kms.decrypt(
            km.DecryptRequest(ciphertext_blob=blob, encryption_context=sealed_under)
        ),
    )
    error = expect_error(
        *INVALID, lambda: decrypt(user.kms, blob, {"classification=secret&owner": "bob"})
    )
    assert "EncryptionContext" in error.message


# Each row: a map that is refused, and a map it would have shared its AAD with.
AMBIGUOUS = [
    ({"a": "b&c=d"}, {"a": "b", "c": "d"}),
    ({"a=b&c": "d"}, {"a": "b", "c": "d"}),
    ({"a=b": "c"}, {"a": "b=c"}),
    ({"0": "x", "a&b": "c"}, {"0": "x&a", "b": "c"}),
    ({"k": "v&w=x&y"}, {"k": "v", "w": "x&y"}),
]


@pytest.mark.parametrize(("refused", "twin"), AMBIGUOUS, ids=lambda m: json.dumps(m))
def test_maps_that_would_share_an_aad_are_refused(
    kms: Client, key: str, refused: dict[str, str], twin: dict[str, str]
) -> None:
    blob = encrypt(kms, key, twin)
    assert decrypt(kms, blob, twin) == b"top secret"
    expect_error(*INVALID, lambda: decrypt(kms, blob, refused))
    expect_error(*INVALID, lambda: encrypt(kms, key, refused))


@pytest.mark.parametrize(
    "text",
    [
        '{"a":"x","a":"y"}',  # a duplicate key: which one would a condition read?
        '{"a":1}',  # not a string: never coerced to "1"
        '{"a":{"b":"c"}}',
        '{"a":["b"]}',
        '{"a":null}',
        '{"a":true}',
        '["a","b"]',
        '"a=b"',
    ],
)
def test_contexts_that_are_not_one_map_of_strings_are_refused(
    raw: RawClient, key: str, text: str
) -> None:
    error = refused_by(
        *INVALID, raw, "Encrypt", KeyId=key, Plaintext=b64(b"x"), EncryptionContext=text
    )
    assert "EncryptionContext" in error.message


@pytest.mark.parametrize(
    "context",
    [
        {"sym": "+ / * ~ = &"},  # the official SDK's own vector: '&' with no '=' after it
        {"url": "https://x/?a=b"},
        {"team": "R&D"},
        {"": ""},
        {"": "x", "a": "="},
        {"名前": "値 with spaces", "emoji 🔑": "ünïcödé", "pct": "%26%3D"},
    ],
    ids=lambda m: json.dumps(m, ensure_ascii=False),
)
def test_unambiguous_contexts_keep_working(kms: Client, key: str, context: dict[str, str]) -> None:
    blob = encrypt(kms, key, context)
    assert decrypt(kms, blob, context) == b"top secret"
    expect_error(*INVALID, lambda: decrypt(kms, blob, None))


def test_the_empty_map_and_the_empty_key_are_different_contexts(kms: Client, key: str) -> None:
    blob = encrypt(kms, key, {"": ""})
    expect_error(*INVALID, lambda: decrypt(kms, blob, {}))
    blob = encrypt(kms, key, {})
    expect_error(*INVALID, lambda: decrypt(kms, blob, {"": ""}))
    assert decrypt(kms, blob, None) == b"top secret"


def _context_requests(kms: Client, key: str, public_key: str) -> dict[str, dict[str, str]]:
    """A valid request for every action that takes an EncryptionContext, by action name."""
    blob = encrypt(kms, key, None)
    wrapping = {
        "PublicKeyBlob": public_key,
        "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
        "WrappingKeySpec": "RSA_2048",
    }
    return {
        "Encrypt": {"KeyId": key, "Plaintext": b64(b"x")},
        "Decrypt": {"CiphertextBlob": blob},
        "GenerateDataKey": {"KeyId": key},
        "GenerateDataKeyWithoutPlaintext": {"KeyId": key},
        "GenerateAndExportDataKey": {"KeyId": key, **wrapping},
        "ExportDataKey": {"CiphertextBlob": blob, **wrapping},
        "ReEncrypt": {"CiphertextBlob": blob, "DestinationKeyId": key},
    }


def _context_params() -> list[tuple[Action, Param]]:
    return [
        (action, param)
        for action in catalogue().all()
        for param in action.params
        if isinstance(param, JsonMap)
    ]


def test_every_context_parameter_refuses_an_ambiguous_map(
    raw: RawClient, kms: Client, key: str, wrapping_public_key: str
) -> None:
    """Walks the catalogue: each EncryptionContext-like parameter of each action."""
    requests = _context_requests(kms, key, wrapping_public_key)
    walked = []
    for action, param in _context_params():
        query = requests[action.name]
        # The request is valid with an ordinary map (a blob sealed under no context opens
        # only with none, so Decrypt-like actions get the ambiguous map only).
        if action.name in ("Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
            raw.call(action.name, **query, **{param.name: '{"a":"b"}'})
        for refused, _twin in AMBIGUOUS:
            bad = {param.name: json.dumps(refused)}
            error = refused_by(*INVALID, raw, action.name, **query, **bad)
            assert param.name in error.message, (action.name, param.name)
        walked.append(f"{action.name}.{param.name}")
    assert sorted(walked) == sorted(
        [
            "Decrypt.EncryptionContext",
            "Encrypt.EncryptionContext",
            "ExportDataKey.EncryptionContext",
            "GenerateAndExportDataKey.EncryptionContext",
            "GenerateDataKey.EncryptionContext",
            "GenerateDataKeyWithoutPlaintext.EncryptionContext",
            "ReEncrypt.DestinationEncryptionContext",
            "ReEncrypt.SourceEncryptionContext",
        ]
    )


# -- 15. A lone UTF-16 surrogate in a JSON parameter ---------------------------------------------

# JSON text spelling a lone surrogate: json.loads makes it a str that UTF-8 cannot encode.
LONE = "\\ud800"


def _payload(param: Param) -> tuple[str, str]:
    """(wire name, a document of the shape ``param`` takes, with a lone surrogate inside)."""
    kind = type(param).__name__
    documents = {
        "JsonMap": f'{{"a":"{LONE}"}}',
        "JsonTags": f'[{{"TagKey":"k{LONE}","TagValue":"v"}}]',
        "JsonStrList": f'["s{LONE}"]',
        "JsonFilters": f'[{{"Key":"{getattr(param, "keys", ("",))[0]}","Values":["{LONE}"]}}]',
        "SecretsList": f'[{{"SecretName":"n{LONE}"}}]',
        "JsonObjectText": f'{{"k":"{LONE}"}}',
        "CustomData": f'{{"DBName":"{LONE}"}}',
        "RamTags": f'[{{"Key":"k{LONE}","Value":"v"}}]',
        "BindVpcs": f'[{{"VpcId":"v{LONE}","RegionId":"r","VSwitchId":"s"}}]',
        "NameList": f'["n{LONE}"]',
        "AccessControlRules": f'{{"NetworkRules":["r{LONE}"]}}',
    }
    assert kind in documents, f"a new JSON parameter kind, {kind}: add a document for it"
    name = f"{param.name}.CustomData" if kind == "CustomData" else param.name
    return name, documents[kind]


def _json_params() -> list[tuple[Action, Param]]:
    return [
        (action, param)
        for action in catalogue().all()
        for param in action.params
        if isinstance(param, JsonParam)
    ]


def _valid_requests(
    kms: Client, key: str, public_key: str, secret: str
) -> dict[str | tuple[str, str], dict[str, str]]:
    """For each action with a JSON parameter, a request that is valid without it: by name, or
    by (version, name) where two versions share a name (RAM's and the KMS API's CreatePolicy)."""
    contexts = _context_requests(kms, key, public_key)
    policy = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    )
    trust = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}}
            ],
        }
    )
    return {
        **contexts,
        "CreateKey": {},
        "ListKeys": {},
        "TagResource": {"KeyId": key},
        "UntagResource": {"KeyId": key},
        "CreateCertificate": {"Subject": "CN=a,OU=b,O=c,C=CN", "KeySpec": "EC_P256"},
        "CreateSecret": {"SecretName": unique("s"), "VersionId": "v1", "SecretData": "x"},
        "PutSecretValue": {"SecretName": secret, "VersionId": unique("v"), "SecretData": "x"},
        "UpdateSecret": {"SecretName": secret},
        "ListSecrets": {},
        "BatchGetSecretValue": {},
        "CreatePolicy": {"PolicyName": unique("p"), "PolicyDocument": policy},
        "CreateRole": {"RoleName": unique("r"), "AssumeRolePolicyDocument": trust},
        "ListPolicies": {},
        "ListRoles": {},
        "UpdateKmsInstanceBindVpc": {
            "KmsInstanceId": kms.get_default_kms_instance().body.default_kms_instance_id
        },
        **_aap_requests(),
    }


def _aap_requests() -> dict[str | tuple[str, str], dict[str, str]]:
    policy = {
        "Name": unique("p"),
        "KmsInstance": "kst-abcdefghij0123456789a",
        "Permissions": '["RbacPermission/Template/CryptoServiceKeyUser"]',
        "Resources": '["key/*"]',
        "AccessControlRules": '{"NetworkRules":[]}',
    }
    aap = {"Name": unique("a"), "Policies": '["p"]'}
    return {
        (KMS_VERSION, "CreatePolicy"): policy,
        # UpdatePolicy cannot move a policy to another instance: it takes no KmsInstance.
        (KMS_VERSION, "UpdatePolicy"): {k: v for k, v in policy.items() if k != "KmsInstance"},
        (KMS_VERSION, "CreateApplicationAccessPoint"): aap,
        (KMS_VERSION, "UpdateApplicationAccessPoint"): aap,
    }


def test_a_lone_surrogate_in_any_json_parameter_is_invalid_parameter(
    raw: RawClient, kms: Client, key: str, wrapping_public_key: str
) -> None:
    secret = unique("sur")
    kms.create_secret(km.CreateSecretRequest(secret_name=secret, version_id="v1", secret_data="x"))
    requests = _valid_requests(kms, key, wrapping_public_key, secret)
    answers: dict[str, tuple[str, int, bool]] = {}
    for action, param in _json_params():
        name, document = _payload(param)
        valid = requests.get((action.version, action.name)) or requests[action.name]
        query = {**valid, name: document}
        try:
            raw.call(action.name, action.version, **query)
            answers[f"{action.name}.{name}"] = ("accepted", 200, False)
        except MamoriError as error:
            named = name in error.message and "surrogate" in error.message
            answers[f"{action.name}.{name}"] = (error.code, error.status, named)
    wrong = {where: answer for where, answer in answers.items() if answer != (*INVALID, True)}
    assert not wrong, "\n".join(f"{w}: {a}" for w, a in sorted(wrong.items()))
    walked = list(answers)
    # Every JSON parameter kind is walked (the catalogue's JsonParam instances).
    assert {
        "BatchGetSecretValue.SecretsList",
        "CreateKey.Tags",
        "CreatePolicy.Tag",
        "CreateSecret.ExtendedConfig",
        "Encrypt.EncryptionContext",
        "ListSecrets.Filters",
        "PutSecretValue.VersionStages",
        "UntagResource.TagKeys",
        "UpdateSecret.ExtendedConfig.CustomData",
    } <= set(walked)


# -- Numbered parameters: an index is [1-9][0-9]* ------------------------------------------------

# '²' passed str.isdigit() and failed int() (a 500); '٣' and '01' were read as 3 and 1, so
# ResourceId.1 and ResourceId.01 collapsed into one entry, the last one winning.
BAD_INDEXES = ["²", "٣", "01", "0", "+1", "1_0", " 1", "1x", ""]


def _flat_params() -> list[tuple[Action, Param]]:
    return [
        (action, param)
        for action in catalogue().all()
        for param in action.params
        if isinstance(param, FlatList | FlatTags)
    ]


def _flat(param: Param, index: str, value: str) -> dict[str, str]:
    if isinstance(param, FlatTags):
        return {f"{param.name}.{index}.Key": value, f"{param.name}.{index}.Value": "v"}
    return {f"{param.name}.{index}": value}


def test_a_numbered_parameter_with_a_non_canonical_index_is_invalid_parameter(
    raw: RawClient, key: str
) -> None:
    """Walks the catalogue: each flat-list and flat-tag parameter of each action."""
    values = {"ResourceId": key, "Tag": "k", "TagKey": "k"}
    answers: dict[str, tuple[str, int, bool]] = {}
    for action, param in _flat_params():
        valid = {"RegionId": "cn-hangzhou", "ResourceType": "key"}
        for other in action.params:
            if isinstance(other, FlatList | FlatTags):
                valid |= _flat(other, "1", values[other.name])
        raw.call(action.name, action.version, **valid)
        bad = [_flat(param, index, values[param.name]) for index in BAD_INDEXES]
        if isinstance(param, FlatTags):
            bad.append({f"{param.name}.2.Nope": "k"})
        for extra in bad:
            where = f"{action.name}.{next(iter(extra))}"
            try:
                raw.call(action.name, action.version, **valid, **extra)
                answers[where] = ("accepted", 200, False)
            except MamoriError as error:
                answers[where] = (error.code, error.status, f'"{param.name}' in error.message)
    wrong = {where: answer for where, answer in answers.items() if answer != (*INVALID, True)}
    assert not wrong, "\n".join(f"{w}: {a}" for w, a in sorted(wrong.items()))
    assert sorted({f"{a.name}.{p.name}" for a, p in _flat_params()}) == [
        "ListTagResources.ResourceId",
        "ListTagResources.Tag",
        "TagResources.ResourceId",
        "TagResources.Tag",
        "UntagResources.ResourceId",
        "UntagResources.TagKey",
    ]


def test_numbered_parameters_keep_their_index_order(raw: RawClient, kms: Client) -> None:
    first, second = (kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id for _ in "ab")
    tags = {"Tag.10.Key": "ten", "Tag.10.Value": "x", "Tag.9.Key": "nine", "Tag.9.Value": "y"}
    ids = {"ResourceId.2": first, "ResourceId.1": second}
    raw.call("TagResources", RegionId="cn-hangzhou", ResourceType="key", **ids, **tags)
    for key_id in (first, second):
        listed = raw.call("ListResourceTags", KeyId=key_id)["Tags"]["Tag"]
        assert {t["TagKey"]: t["TagValue"] for t in listed} == {"ten": "x", "nine": "y"}


# -- Zero is a value, not "not given" -----------------------------------------------------------


@pytest.mark.parametrize("interval", ["0s", "0d", "0h", "0m"])
def test_a_zero_rotation_interval_is_refused_not_defaulted(
    raw: RawClient, key: str, interval: str
) -> None:
    # 0 was parsed, then taken for "not given" by "interval or 365 days".
    for action, query in (
        ("CreateKey", {}),
        ("UpdateRotationPolicy", {"KeyId": key}),
    ):
        error = refused_by(
            *INVALID,
            raw,
            action,
            EnableAutomaticRotation="true",
            RotationInterval=interval,
            **query,
        )
        assert "between 7 and 365 days" in error.message, (action, error.message)
    secret = unique("zero")
    raw.call("CreateSecret", SecretName=secret, VersionId="v1", SecretData="x")
    for action, query in (
        ("CreateSecret", {"SecretName": unique("zero"), "VersionId": "v1", "SecretData": "x"}),
        ("UpdateSecretRotationPolicy", {"SecretName": secret}),
    ):
        error = refused_by(
            *INVALID,
            raw,
            action,
            EnableAutomaticRotation="true",
            RotationInterval=interval,
            **query,
        )
        assert "between 6 hours and 8760 hours" in error.message, (action, error.message)


def test_a_zero_numeric_parameter_is_refused_not_defaulted(raw: RawClient, key: str) -> None:
    """Each numeric parameter a handler defaults with "or": 0 must be refused by its bounds."""
    secret = unique("zero")
    raw.call("CreateSecret", SecretName=secret, VersionId="v1", SecretData="x")
    trust = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}}
            ],
        }
    )
    role = unique("z")
    arn = raw.call("CreateRole", RAM, RoleName=role, AssumeRolePolicyDocument=trust)
    zeros = [
        ("ListKeys", KMS_VERSION, {"PageSize": "0"}),
        ("ListKeys", KMS_VERSION, {"PageNumber": "0"}),
        ("ScheduleKeyDeletion", KMS_VERSION, {"KeyId": key, "PendingWindowInDays": "0"}),
        ("GenerateDataKey", KMS_VERSION, {"KeyId": key, "NumberOfBytes": "0"}),
        ("GetRandomPassword", KMS_VERSION, {"PasswordLength": "0"}),
        ("DeleteSecret", KMS_VERSION, {"SecretName": secret, "RecoveryWindowInDays": "0"}),
        ("ListUsers", RAM, {"MaxItems": "0"}),
        (
            "CreateRole",
            RAM,
            {"RoleName": unique("z"), "AssumeRolePolicyDocument": trust, "MaxSessionDuration": "0"},
        ),
        (
            "AssumeRole",
            STS,
            {"RoleArn": arn["Role"]["Arn"], "RoleSessionName": "zz", "DurationSeconds": "0"},
        ),
    ]
    for action, version, params in zeros:
        name = next(k for k, v in params.items() if v == "0")
        with pytest.raises(MamoriError) as info:
            raw.call(action, version, **params)
        error = info.value
        assert error.status == 400, (action, error.code)
        assert error.code.startswith("InvalidParameter"), (action, error.code)
        assert name in error.message or name in error.code, (action, error.message)


# -- 14. Documented parameters Mamori does not implement -----------------------------------------

# What a client sends to have the answer sealed to an enclave (an attestation document).
RECIPIENT = b64(b"attestation document of an enclave")


def test_recipient_is_refused_rather_than_answered_in_the_clear(
    kms: Client, key: str, server: ServerProcess
) -> None:
    """A client that asks for CiphertextForRecipient must not get Plaintext instead."""
    blob = encrypt(kms, key, None)
    calls = {
        "Decrypt": lambda: kms.decrypt(
            km.DecryptRequest(ciphertext_blob=blob, recipient=RECIPIENT)
        ),
        "GenerateDataKey": lambda: kms.generate_data_key(
            km.GenerateDataKeyRequest(key_id=key, recipient=RECIPIENT)
        ),
    }
    rsa_key = kms.create_key(
        km.CreateKeyRequest(key_spec="RSA_2048", key_usage="ENCRYPT/DECRYPT")
    ).body.key_metadata
    version = rsa_key.primary_key_version
    sealed = kms.asymmetric_encrypt(
        km.AsymmetricEncryptRequest(
            key_id=rsa_key.key_id,
            key_version_id=version,
            algorithm="RSAES_OAEP_SHA_256",
            plaintext=b64(b"top secret"),
        )
    ).body.ciphertext_blob
    calls["AsymmetricDecrypt"] = lambda: kms.asymmetric_decrypt(
        km.AsymmetricDecryptRequest(
            key_id=rsa_key.key_id,
            key_version_id=version,
            algorithm="RSAES_OAEP_SHA_256",
            ciphertext_blob=sealed,
            recipient=RECIPIENT,
        )
    )
    secret = unique("recipient")
    kms.create_secret(km.CreateSecretRequest(secret_name=secret, version_id="v1", secret_data="x"))
    calls["GetSecretValue"] = lambda: kms.get_secret_value(
        km.GetSecretValueRequest(secret_name=secret, recipient=RECIPIENT)
    )
    for action, call in calls.items():
        error = expect_error(*UNSUPPORTED, call)
        assert "Recipient" in error.message, action


def test_every_documented_parameter_mamori_does_not_implement_is_refused(raw: RawClient) -> None:
    """Walks every served action: each documented parameter it does not declare (the table
    ``tests/api/test_catalogue.py`` checks against the spec) is refused, whatever else the
    request holds, and an empty value counts as absent, as for every parameter."""
    walked = []
    for action in catalogue().all():
        for name in sorted(unimplemented.REFUSED.get((action.version, action.name), ())):
            error = refused_by(*UNSUPPORTED, raw, action.name, action.version, **{name: "x"})
            assert name in error.message, (action.name, name)
            walked.append(f"{action.name}.{name}")
    assert sorted(walked) == [
        "AsymmetricDecrypt.Recipient",
        "CreateKey.KeyStorageMechanism",
        "Decrypt.Recipient",
        "GenerateDataKey.Recipient",
        "GetSecretValue.Recipient",
        "ListKmsInstances.Filters",
    ]


def test_a_dry_run_with_an_unimplemented_parameter_fails_validation(kms: Client, key: str) -> None:
    blob = encrypt(kms, key, None)
    expect_error(
        "ValidationError",
        400,
        lambda: kms.decrypt(
            km.DecryptRequest(ciphertext_blob=blob, recipient=RECIPIENT, dry_run="true")
        ),
    )
