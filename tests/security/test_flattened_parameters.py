"""Map and list parameters in both spellings (issue 11, item 4), and no parameter name ignored.

RPC-style SDK generations flatten a dict or a list into the query (``EncryptionContext.lang=ts``,
``Tags.1.TagKey=k``) where the new SDK's "shrink" fields send one JSON string. The server once
read only the JSON form and dropped the flattened one without a word: the ciphertext was sealed
under no context at all. Every map or list parameter now reads both forms (the official SDK's
own flattener, ``alibabacloud_openapi_util``, makes the flattened one here), refuses a request
giving both, and refuses any name the action does not take.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi import models as open_api
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_util import models as tea_util

from mamori.api.catalogue import KMS_VERSION, Action
from mamori.api.params import FlatList, FlatTags, JsonParam, Param
from mamori.api.registry import catalogue
from mamori.client import Client as RawClient
from mamori.client import MamoriError
from tests.compat.sdk import OldSdk, b64, expect_error
from tests.conftest import ServerProcess
from tests.security.test_parameters import _valid_requests

INVALID = ("InvalidParameter", 400)
CONTEXT = {"lang": "ts", "env": "prod", "a.b": "dotted key"}


@pytest.fixture(scope="module")
def raw(server: ServerProcess) -> Iterator[RawClient]:
    with RawClient(server.endpoint, server.access_key_id, server.access_key_secret) as client:
        yield client


@pytest.fixture(scope="module")
def key(kms: Client) -> str:
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)


@pytest.fixture(scope="module")
def public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return b64(der)


def flat(name: str, value: Any) -> dict[str, str]:
    """``value`` under ``name`` as the official SDK flattens it into the query."""
    return dict(OpenApiUtil.query({name: value}))


def rpc_params(action: str, req_body_type: str = "formData") -> open_api.Params:
    """The official SDK's generic RPC call of ``action``, its body sent as ``req_body_type``."""
    return open_api.Params(
        action=action,
        version=KMS_VERSION,
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type=req_body_type,
        body_type="json",
    )


def sdk_call(kms: Client, action: str, query: dict[str, Any]) -> dict[str, Any]:
    """``action`` through the official SDK's generic RPC call, its query flattened by the SDK
    itself (as the SDK generations without "shrink" fields send maps)."""
    params = rpc_params(action)
    request = open_api.OpenApiRequest(query=OpenApiUtil.query(query))
    answer = kms.call_api(params, request, tea_util.RuntimeOptions())
    return dict(answer["body"])


def json_decrypt(kms: Client, blob: str, context: dict[str, str] | None) -> bytes:
    request = km.DecryptRequest(ciphertext_blob=blob, encryption_context=context)
    return base64.b64decode(kms.decrypt(request).body.plaintext)


# -- a context sent flat binds the ciphertext exactly like the JSON form -------------------------


def test_a_flat_context_binds_the_ciphertext_like_the_json_form(kms: Client, key: str) -> None:
    query = {"KeyId": key, "Plaintext": b64(b"flat"), "EncryptionContext": CONTEXT}
    assert "EncryptionContext.lang" in OpenApiUtil.query(query)  # the SDK really flattens it
    blob = sdk_call(kms, "Encrypt", query)["CiphertextBlob"]
    # The other form opens it; a wrong, partial or missing context does not.
    assert json_decrypt(kms, blob, CONTEXT) == b"flat"
    for wrong in ({**CONTEXT, "lang": "py"}, {"lang": "ts"}, None):
        expect_error(*INVALID, lambda wrong=wrong: json_decrypt(kms, blob, wrong))
    # And the other way round: sealed with the JSON form, opened flat.
    sealed = kms.encrypt(
        km.EncryptRequest(key_id=key, plaintext=b64(b"json"), encryption_context=CONTEXT)
    ).body.ciphertext_blob
    opened = sdk_call(kms, "Decrypt", {"CiphertextBlob": sealed, "EncryptionContext": CONTEXT})
    assert base64.b64decode(opened["Plaintext"]) == b"json"
    with pytest.raises(AlibabaCloudException) as info:
        sdk_call(kms, "Decrypt", {"CiphertextBlob": sealed, "EncryptionContext": {"lang": "ts"}})
    assert info.value.code == "InvalidParameter"


def test_a_flat_context_meets_the_same_injectivity_rule(raw: RawClient, key: str) -> None:
    """``{"a": "b&c=d"}`` would share its AAD with ``{"a": "b", "c": "d"}``: refused flat too,
    and so is a key holding '=' (which only the flattened form can put in a name)."""
    for refused in ({"a": "b&c=d"}, {"a=b&c": "d"}, {"a=b": "c"}):
        with pytest.raises(MamoriError) as info:
            raw.call(
                "Encrypt", KeyId=key, Plaintext=b64(b"x"), **flat("EncryptionContext", refused)
            )
        assert (info.value.code, info.value.status) == INVALID
        assert "EncryptionContext" in info.value.message


def test_both_forms_at_once_are_refused(raw: RawClient, key: str) -> None:
    with pytest.raises(MamoriError) as info:
        raw.call(
            "Encrypt",
            KeyId=key,
            Plaintext=b64(b"x"),
            EncryptionContext=json.dumps({"lang": "ts"}),
            **{"EncryptionContext.env": "prod"},
        )
    assert (info.value.code, info.value.status) == INVALID
    assert "EncryptionContext" in info.value.message and "both" in info.value.message


def test_every_flattened_context_of_every_action_is_read(
    raw: RawClient, kms: Client, key: str, public_key: str
) -> None:
    """ReEncrypt's two contexts, and each data-key action's, bind what they are sent flat."""
    blob = raw.call(
        "GenerateDataKeyWithoutPlaintext", KeyId=key, **flat("EncryptionContext", CONTEXT)
    )["CiphertextBlob"]
    expect_error(*INVALID, lambda: json_decrypt(kms, blob, None))
    moved = raw.call(
        "ReEncrypt",
        CiphertextBlob=blob,
        DestinationKeyId=key,
        **flat("SourceEncryptionContext", CONTEXT),
        **flat("DestinationEncryptionContext", {"to": "there"}),
    )["CiphertextBlob"]
    assert len(json_decrypt(kms, moved, {"to": "there"})) == 32
    expect_error(*INVALID, lambda: json_decrypt(kms, moved, None))


@pytest.mark.parametrize(
    ("action", "base", "name"),
    [
        ("Encrypt", {"Plaintext": b64(b"x")}, "EncryptionContext.\x00"),
        ("Encrypt", {"Plaintext": b64(b"x")}, "EncryptionContext.a\x00b"),
        ("UpdateSecret", {}, "ExtendedConfig.CustomData.\x00"),
    ],
)
def test_a_nul_in_a_flattened_map_key_is_refused_like_in_json(
    raw: RawClient, kms: Client, key: str, action: str, base: dict[str, str], name: str
) -> None:
    """A flattened map puts its keys in parameter *names*. The JSON form refuses a key with a
    NUL (``load_json``: PostgreSQL text can't hold one, and no other key would be read the
    same); the flattened form must not be the way around that rule."""
    if action == "UpdateSecret":
        secret = "nul-key-" + key[-8:]
        kms.create_secret(
            km.CreateSecretRequest(secret_name=secret, secret_data="x", version_id="v1")
        )
        base = {"SecretName": secret}
    else:
        base = {"KeyId": key, **base}
    json_name, _, map_key = name.rpartition(".")
    with pytest.raises(MamoriError) as info:
        raw.call(action, **base, **{json_name: json.dumps({map_key: "v"})})
    assert (info.value.code, info.value.status) == INVALID  # the JSON form: refused
    with pytest.raises(MamoriError) as info:
        raw.call(action, **base, **{name: "v"})
    assert (info.value.code, info.value.status) == INVALID
    assert "NUL" in info.value.message


def test_parameters_in_a_body_that_is_not_a_form_are_not_silently_dropped(
    kms: Client, key: str
) -> None:
    """The official SDK's generic call with ``req_body_type="json"`` sends the body as JSON
    (content-type application/json, signed through x-acs-content-sha256). The gateway reads
    only a form body, so the context in it was dropped without a word and the plaintext
    sealed under no context at all: the request is refused instead."""
    params = rpc_params("Encrypt", req_body_type="json")
    request = open_api.OpenApiRequest(
        query={"KeyId": key, "Plaintext": b64(b"json body")},
        body={"EncryptionContext": json.dumps(CONTEXT)},
    )
    error = expect_error(*INVALID, lambda: kms.call_api(params, request, tea_util.RuntimeOptions()))
    assert "Content-Type" in error.message


# -- catalogue-wide: every map or list parameter reads both forms --------------------------------


def _document(action: Action, param: Param, secret: str) -> Any:
    """A valid value of the shape ``param`` takes (as a JSON value, before either encoding)."""
    kind = type(param).__name__
    documents: dict[str, Any] = {
        "JsonMap": CONTEXT,
        "JsonTags": [{"TagKey": "k", "TagValue": "v"}],
        "JsonStrList": ["k"],
        "JsonFilters": [{"Key": getattr(param, "keys", ("",))[0], "Values": ["Enabled"]}],
        "SecretsList": [{"SecretName": secret}],
        "JsonObjectText": {"k": "v"},
        "CustomData": {"CustomData": {"DBName": "app"}},
        "RamTags": [{"Key": "k", "Value": "v"}],
        "BindVpcs": [{"VpcId": "vpc-1", "RegionId": "cn-hangzhou", "VSwitchId": "vsw-1"}],
        "NameList": (
            ["key/*"]
            if param.name == "Resources"
            else ["RbacPermission/Template/CryptoServiceKeyUser"]
        ),
        "AccessControlRules": {"NetworkRules": ["no-such-rule"]},
    }
    assert kind in documents, f"a new map or list parameter kind, {kind}: add a document for it"
    return documents[kind]


def _json_form(param: Param, value: Any) -> dict[str, str]:
    if type(param).__name__ == "CustomData":  # UpdateSecret's one field, JSON inside
        return {f"{param.name}.CustomData": json.dumps(value["CustomData"])}
    return {param.name: json.dumps(value)}


def _base(
    kms: Client, key: str, public_key: str, secret: str, action: Action, param: Param
) -> dict[str, str]:
    """A fresh valid request for ``action`` without ``param`` (a created name may be created
    only once)."""
    valid = _valid_requests(kms, key, public_key, secret)
    base = valid.get((action.version, action.name)) or valid[action.name]
    return {k: v for k, v in base.items() if k.split(".")[0] != param.name}


def _outcome(raw: RawClient, action: Action, query: dict[str, str]) -> str:
    try:
        raw.call(action.name, action.version, **query)
    except MamoriError as error:
        return error.code
    return "ok"


def test_every_map_and_list_parameter_reads_both_forms(
    raw: RawClient, kms: Client, key: str, public_key: str
) -> None:
    """Walks the catalogue: each JSON-valued parameter answers the same whether its value is
    sent as one JSON string or flattened by the official SDK, and refuses the two together."""
    secret = f"flat-{key[-8:]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=secret, version_id="v1", secret_data="x"))
    outcomes: dict[str, tuple[str, str]] = {}
    for action, param in [
        (a, p) for a in catalogue().all() for p in a.params if isinstance(p, JsonParam)
    ]:
        value = _document(action, param, secret)
        where = f"{action.name}.{param.name}"
        answers = []
        for encoded in (_json_form(param, value), flat(param.name, value)):
            base = _base(kms, key, public_key, secret, action, param)
            answers.append(_outcome(raw, action, {**base, **encoded}))
        outcomes[where] = (answers[0], answers[1])
        # Both at once: refused, naming the parameter.
        base = _base(kms, key, public_key, secret, action, param)
        both = {**base, **_json_form(param, value), **flat(param.name, value)}
        with pytest.raises(MamoriError) as info:
            raw.call(action.name, action.version, **both)
        assert (info.value.code, info.value.status) == INVALID, where
        assert param.name in info.value.message, where
    differ = {w: o for w, o in outcomes.items() if o[0] != o[1]}
    assert not differ, differ
    # The walk saw every kind, and most documents are accepted outright.
    assert {"Encrypt.EncryptionContext", "CreateKey.Tags", "CreatePolicy.Tag"} <= set(outcomes)
    accepted = {w for w, o in outcomes.items() if o == ("ok", "ok")}
    assert {
        "Encrypt.EncryptionContext",
        "ReEncrypt.DestinationEncryptionContext",
        "CreateKey.Tags",
        "TagResource.Tags",
        "UntagResource.TagKeys",
        "ListKeys.Filters",
        "BatchGetSecretValue.SecretsList",
        "UpdateSecret.ExtendedConfig",
        "CreatePolicy.Tag",
    } <= accepted, outcomes


def test_flat_tags_are_applied(raw: RawClient, kms: Client) -> None:
    key = raw.call("CreateKey", **flat("Tags", [{"TagKey": "team", "TagValue": "blue"}]))
    key_id = key["KeyMetadata"]["KeyId"]
    tags = kms.list_resource_tags(km.ListResourceTagsRequest(key_id=key_id)).body.tags.tag
    assert [(t.tag_key, t.tag_value) for t in tags] == [("team", "blue")]


# -- no name is ignored ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"EncryptionContex": '{"lang":"ts"}'}, "EncryptionContex"),  # a typo of a map
        ({"Foo": "bar"}, "Foo"),
        ({"KeyId.1": "x"}, "KeyId.1"),  # a scalar has no flattened form
        ({"Signature": "x"}, "Signature"),  # an RPC signature name under ACS3
    ],
)
def test_a_name_the_action_does_not_take_is_refused(
    raw: RawClient, key: str, extra: dict[str, str], named: str
) -> None:
    with pytest.raises(MamoriError) as info:
        raw.call("Encrypt", KeyId=key, Plaintext=b64(b"x"), **extra)
    assert (info.value.code, info.value.status) == INVALID
    assert named in info.value.message


@pytest.mark.parametrize(
    ("action", "query", "named"),
    [
        ("TagResources", {"ResourceId.01": "k", "Tag.1.Key": "a"}, "ResourceId.N"),
        ("TagResources", {"ResourceId.1": "k", "Tag.1.Kee": "a"}, "Tag.N.Key"),
        ("TagResources", {"ResourceId": "k", "Tag.1.Key": "a"}, "ResourceId"),
        ("UpdateSecret", {"ExtendedConfig.Other": "x"}, "ExtendedConfig.Other"),
        ("UpdateSecret", {"ExtendedConfig": "{}"}, "ExtendedConfig"),
        (
            "UpdateSecret",
            {"ExtendedConfig.CustomData": "{}", "ExtendedConfig.CustomData.a": "b"},
            "ExtendedConfig.CustomData",
        ),
        ("ListKeys", {"Filters.01.Key": "KeyState"}, "Filters"),
        ("ListKeys", {"Filters.1.Key": "KeyState", "Filters.1": "x"}, "Filters"),
        ("ListKeys", {"Filters.2.Key": "KeyState"}, "Filters"),
    ],
)
def test_a_malformed_flattened_name_is_refused(
    raw: RawClient, action: str, query: dict[str, str], named: str
) -> None:
    base = {"SecretName": "no-such-secret"} if action == "UpdateSecret" else {}
    if action == "TagResources":
        base = {"ResourceType": "key", "RegionId": "cn-hangzhou"}
    with pytest.raises(MamoriError) as info:
        raw.call(action, **base, **query)
    assert (info.value.code, info.value.status) == INVALID, info.value.message
    assert named in info.value.message


def test_the_old_sdks_common_parameters_are_accepted(old: OldSdk, key: str) -> None:
    """RPC V1 requests carry Format, RegionId, SignatureType…: consumed by the transport."""
    from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest

    request = EncryptRequest()
    request.set_KeyId(key)
    request.set_Plaintext(b64(b"old"))
    request.set_EncryptionContext(json.dumps(CONTEXT))
    answer = old.call(request)
    assert answer["KeyId"] == key


def test_flat_parameter_kinds_are_flattenable() -> None:
    """Every parameter read from ``Name.…`` names is marked so (the name check relies on it)."""
    for action in catalogue().all():
        for param in action.params:
            if isinstance(param, JsonParam | FlatList | FlatTags):
                assert param.flattens, (action.name, param.name)
            else:
                assert not param.flattens, (action.name, param.name)
