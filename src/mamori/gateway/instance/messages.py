"""Which protobuf messages each instance API takes and returns, and a strict body decoder.

The message classes are protoc's output (``proto/instance_api_pb2``); nothing here encodes or
decodes protobuf by hand. ``decode_request`` adds the one thing protobuf parsing does not do:
it refuses a body that is not the canonical encoding of the message it decodes to (a field
given twice, an unknown field, fields out of order, an explicitly encoded default), because a
body that two parsers could read differently must never reach the signature check's caller.
Every official SDK (Python, Go, Java) serialises proto3 canonically: fields in number order,
defaults omitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from google.protobuf.message import DecodeError, Message

from mamori.gateway.instance.proto import instance_api_pb2 as pb

API_VERSION: Final = "dkms-gcs-0.2"


@dataclass(frozen=True, slots=True)
class ApiMessages:
    """The request and response message types of one instance API."""

    request: type[Message]
    response: type[Message]


def _pair(request: type[Message], response: type[Message]) -> ApiMessages:
    return ApiMessages(request=request, response=response)


# The APIs the official SDKs call (spec §A.5). Hmac, Hash, KmsEncrypt and KmsDecrypt are in the
# descriptor but called by no SDK, so the gateway does not route them.
APIS: Final = MappingProxyType(
    {
        "Encrypt": _pair(pb.EncryptRequest, pb.EncryptResponse),
        "Decrypt": _pair(pb.DecryptRequest, pb.DecryptResponse),
        "AdvanceEncrypt": _pair(pb.AdvanceEncryptRequest, pb.AdvanceEncryptResponse),
        "AdvanceDecrypt": _pair(pb.AdvanceDecryptRequest, pb.AdvanceDecryptResponse),
        "Sign": _pair(pb.SignRequest, pb.SignResponse),
        "Verify": _pair(pb.VerifyRequest, pb.VerifyResponse),
        "GenerateRandom": _pair(pb.GenerateRandomRequest, pb.GenerateRandomResponse),
        "GenerateDataKey": _pair(pb.GenerateDataKeyRequest, pb.GenerateDataKeyResponse),
        "AdvanceGenerateDataKey": _pair(
            pb.AdvanceGenerateDataKeyRequest, pb.AdvanceGenerateDataKeyResponse
        ),
        "GetPublicKey": _pair(pb.GetPublicKeyRequest, pb.GetPublicKeyResponse),
        "GetSecretValue": _pair(pb.GetSecretValueRequest, pb.GetSecretValueResponse),
        "GenerateDataKeyPair": _pair(pb.GenerateDataKeyPairRequest, pb.GenerateDataKeyPairResponse),
        "GenerateDataKeyPairWithoutPlaintext": _pair(
            pb.GenerateDataKeyPairWithoutPlaintextRequest,
            pb.GenerateDataKeyPairWithoutPlaintextResponse,
        ),
        "AdvanceGenerateDataKeyPair": _pair(
            pb.AdvanceGenerateDataKeyPairRequest, pb.AdvanceGenerateDataKeyPairResponse
        ),
        "AdvanceGenerateDataKeyPairWithoutPlaintext": _pair(
            pb.AdvanceGenerateDataKeyPairWithoutPlaintextRequest,
            pb.AdvanceGenerateDataKeyPairWithoutPlaintextResponse,
        ),
    }
)


class MalformedBody(ValueError):
    """The body is not the canonical protobuf encoding of the API's request message."""


def decode_request(api_name: str, body: bytes) -> Message:
    """Parse ``body`` as ``api_name``'s request; raise ``MalformedBody`` unless it is canonical.

    ``api_name`` must be a key of ``APIS`` (the caller has already refused unknown names).
    """
    message = APIS[api_name].request()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise MalformedBody(f"not a {message.DESCRIPTOR.name}") from exc
    # Unknown fields survive a parse and would re-serialise unchanged: drop them first so that
    # the comparison below sees them as a difference.
    message.DiscardUnknownFields()
    if message.SerializeToString(deterministic=True) != body:
        raise MalformedBody(f"not the canonical encoding of a {message.DESCRIPTOR.name}")
    return message


def encode(message: Message) -> bytes:
    """The wire bytes of a response or ``Error`` message (deterministic, as the SDKs emit)."""
    return message.SerializeToString(deterministic=True)
