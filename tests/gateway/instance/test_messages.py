"""The instance API's messages against the official SDK's own generated classes.

The descriptor comparison proves every message, field name, number, type and label is the SDK's;
the round trips prove the bytes are equal both ways (ours → SDK and SDK → ours) for every message,
with every field set, and with every field at its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from mamori.gateway.instance import messages
from mamori.gateway.instance.messages import MalformedBody, decode_request, encode
from mamori.wire import instance_api_pb2 as pb
from tests.gateway.instance.dkms import b64, run_sdk, unb64

Fields = dict[str, Any]


def _our_file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(proto)
    return proto


def _shape(file: descriptor_pb2.FileDescriptorProto) -> list[tuple[str, list[tuple[Any, ...]]]]:
    # Everything that reaches the wire or the generated API; json_name and the package do not.
    return [
        (m.name, [(f.name, f.number, f.type, f.label, f.type_name, f.oneof_index) for f in m.field])
        for m in file.message_type
    ]


def _message_class(name: str) -> type[Message]:
    cls: type[Message] = getattr(pb, name)
    return cls


def _sample(descriptor: Descriptor, variant: int) -> Fields:
    """A value for every field: variant 0 small and ASCII, variant 1 negative and non-ASCII."""
    fields: Fields = {}
    for field in descriptor.fields:
        name, number = field.name, field.number
        if field.is_repeated:
            assert field.type == FieldDescriptor.TYPE_STRING
            fields[name] = ["ACSCurrent", f"v{number}"] if variant == 0 else ["é"]
        elif field.type == FieldDescriptor.TYPE_STRING:
            fields[name] = f"{name}-{number}" if variant == 0 else f"密钥-é-{number}"
        elif field.type == FieldDescriptor.TYPE_BYTES:
            fields[name] = bytes([number]) * 3 if variant == 0 else b"\x00\xff" * 40
        elif field.type == FieldDescriptor.TYPE_INT32:
            fields[name] = 1000 + number if variant == 0 else -(2**31)
        elif field.type == FieldDescriptor.TYPE_BOOL:
            fields[name] = True
        else:
            raise AssertionError(f"{descriptor.name}.{name}: unexpected type {field.type}")
    return fields


def _to_driver(fields: Fields) -> Fields:
    return {k: {"b64": b64(v)} if isinstance(v, bytes) else v for k, v in fields.items()}


def _from_driver(fields: Fields) -> Fields:
    return {k: unb64(v["b64"]) if isinstance(v, dict) else v for k, v in fields.items()}


def _set_fields(message: Message) -> Fields:
    return {f.name: list(v) if f.is_repeated else v for f, v in message.ListFields()}


def test_descriptor_is_the_sdks(dkms_python: Path) -> None:
    sdk = descriptor_pb2.FileDescriptorProto.FromString(
        unb64(run_sdk(dkms_python, "descriptor")["descriptor"])
    )
    ours = _our_file()
    assert sdk.syntax == ours.syntax == "proto3"
    assert not sdk.enum_type and not sdk.service and not sdk.dependency
    assert _shape(ours) == _shape(sdk)


def test_every_message_round_trips_with_the_sdk(dkms_python: Path) -> None:
    items: list[Fields] = []
    expected: list[tuple[str, Fields, bytes]] = []
    for descriptor in pb.DESCRIPTOR.message_types_by_name.values():
        for fields in (_sample(descriptor, 0), _sample(descriptor, 1), {}):
            wire = encode(_message_class(descriptor.name)(**fields))
            items.append(
                {"message": descriptor.name, "fields": _to_driver(fields), "wire": b64(wire)}
            )
            expected.append((descriptor.name, fields, wire))

    results = run_sdk(dkms_python, "roundtrip", items=items)["results"]

    assert len(results) == len(expected) == 3 * len(pb.DESCRIPTOR.message_types_by_name)
    for result, (name, fields, wire) in zip(results, expected, strict=True):
        # The SDK encodes the same fields to the same bytes ...
        assert unb64(result["built"]) == wire, name
        # ... reads every field of our bytes back, and re-encodes them unchanged ...
        assert _from_driver(result["parsed"]) == fields, name
        assert unb64(result["reserialized"]) == wire, name
        # ... and we read the SDK's bytes back to the same fields.
        assert _set_fields(_message_class(name).FromString(unb64(result["built"]))) == fields


def test_the_api_table_is_what_the_sdk_client_calls(dkms_python: Path) -> None:
    assert run_sdk(dkms_python, "apis")["apis"] == sorted(messages.APIS)


def test_the_api_table_names_each_sdk_api_once() -> None:
    assert len(messages.APIS) == 15
    for name, pair in messages.APIS.items():
        assert pair.request.DESCRIPTOR.name == f"{name}Request"
        assert pair.response.DESCRIPTOR.name == f"{name}Response"
    # In the descriptor, but no SDK calls them: not routed.
    assert not {"Hmac", "Hash", "KmsEncrypt", "KmsDecrypt"} & messages.APIS.keys()


def test_decode_request_reads_the_sdk_encoding() -> None:
    body = encode(pb.EncryptRequest(KeyId="key-1", Plaintext=b"hello", Aad=b"ctx"))
    decoded = decode_request("Encrypt", body)
    assert isinstance(decoded, pb.EncryptRequest)
    assert (decoded.KeyId, decoded.Plaintext, decoded.Aad) == ("key-1", b"hello", b"ctx")
    assert decode_request("GenerateRandom", b"") == pb.GenerateRandomRequest()


_CANONICAL = encode(pb.EncryptRequest(KeyId="k", Plaintext=b"p"))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_CANONICAL + encode(pb.EncryptRequest(KeyId="other")), id="field-twice"),
        pytest.param(_CANONICAL + b"\x78\x01", id="unknown-field"),
        pytest.param(
            encode(pb.EncryptRequest(Plaintext=b"p")) + encode(pb.EncryptRequest(KeyId="k")),
            id="out-of-order",
        ),
        pytest.param(_CANONICAL + b"\x1a\x00", id="explicit-default"),
        pytest.param(b"\x0a\x02k", id="truncated"),
        pytest.param(b"\x0a\x01\xff", id="invalid-utf8"),
    ],
)
def test_decode_request_refuses_a_non_canonical_body(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_request("Encrypt", body)
