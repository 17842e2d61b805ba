"""The KMS instance API (the dedicated gateway's protocol) as both ends speak it: the version,
the APIs with their request and response messages, the headers, and the string a client key
signs.

String to sign, exactly as ``alibabacloud-dkms-gcs`` builds it (``openapi_util.client``)::

    METHOD "\\n" content-sha256 "\\n" content-type "\\n" date "\\n"
    { name ":" strip(value) "\\n" }   for every header named x-kms-*, in ascending name order
    "/"                               the SDK's canonical resource is always "/"

signed with RSASSA-PKCS1-v1_5 / SHA-256 under the client key and sent base64-encoded as
``authorization: Bearer <signature>``. The body is bound through ``content-sha256``, the
upper-case hex SHA-256 of the body bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from google.protobuf.message import Message

from mamori.wire import instance_api_pb2 as pb

API_VERSION: Final = "dkms-gcs-0.2"
SIGNATURE_METHOD: Final = "RSA_PKCS1_SHA_256"
# Sic: three c's. It is the header every SDK sends.
CLIENT_KEY_ID_HEADER: Final = "x-kms-acccesskeyid"
MIGRATION_KEY_VERSION_HEADER: Final = "x-kms-migrationkeyversionid"
CONTENT_TYPE: Final = "application/x-protobuf"
SIGNED_PREFIX: Final = "x-kms-"

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


@dataclass(frozen=True, slots=True)
class Api(Generic[Req, Resp]):
    """One API: its name (``x-kms-apiname``) and its request and response messages."""

    name: str
    request: type[Req]
    response: type[Resp]


ENCRYPT: Final = Api("Encrypt", pb.EncryptRequest, pb.EncryptResponse)
DECRYPT: Final = Api("Decrypt", pb.DecryptRequest, pb.DecryptResponse)
ADVANCE_ENCRYPT: Final = Api("AdvanceEncrypt", pb.AdvanceEncryptRequest, pb.AdvanceEncryptResponse)
ADVANCE_DECRYPT: Final = Api("AdvanceDecrypt", pb.AdvanceDecryptRequest, pb.AdvanceDecryptResponse)
SIGN: Final = Api("Sign", pb.SignRequest, pb.SignResponse)
VERIFY: Final = Api("Verify", pb.VerifyRequest, pb.VerifyResponse)
GENERATE_RANDOM: Final = Api("GenerateRandom", pb.GenerateRandomRequest, pb.GenerateRandomResponse)
GENERATE_DATA_KEY: Final = Api(
    "GenerateDataKey", pb.GenerateDataKeyRequest, pb.GenerateDataKeyResponse
)
ADVANCE_GENERATE_DATA_KEY: Final = Api(
    "AdvanceGenerateDataKey", pb.AdvanceGenerateDataKeyRequest, pb.AdvanceGenerateDataKeyResponse
)
GET_PUBLIC_KEY: Final = Api("GetPublicKey", pb.GetPublicKeyRequest, pb.GetPublicKeyResponse)
GET_SECRET_VALUE: Final = Api("GetSecretValue", pb.GetSecretValueRequest, pb.GetSecretValueResponse)
GENERATE_DATA_KEY_PAIR: Final = Api(
    "GenerateDataKeyPair", pb.GenerateDataKeyPairRequest, pb.GenerateDataKeyPairResponse
)
GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT: Final = Api(
    "GenerateDataKeyPairWithoutPlaintext",
    pb.GenerateDataKeyPairWithoutPlaintextRequest,
    pb.GenerateDataKeyPairWithoutPlaintextResponse,
)
ADVANCE_GENERATE_DATA_KEY_PAIR: Final = Api(
    "AdvanceGenerateDataKeyPair",
    pb.AdvanceGenerateDataKeyPairRequest,
    pb.AdvanceGenerateDataKeyPairResponse,
)
ADVANCE_GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT: Final = Api(
    "AdvanceGenerateDataKeyPairWithoutPlaintext",
    pb.AdvanceGenerateDataKeyPairWithoutPlaintextRequest,
    pb.AdvanceGenerateDataKeyPairWithoutPlaintextResponse,
)

# The APIs the official SDKs call (spec §A.5). Hmac, Hash, KmsEncrypt and KmsDecrypt are in the
# descriptor but called by no SDK, so they are not APIs here.
APIS: Final[Mapping[str, Api[Any, Any]]] = MappingProxyType(
    {
        api.name: api
        for api in (
            ENCRYPT,
            DECRYPT,
            ADVANCE_ENCRYPT,
            ADVANCE_DECRYPT,
            SIGN,
            VERIFY,
            GENERATE_RANDOM,
            GENERATE_DATA_KEY,
            ADVANCE_GENERATE_DATA_KEY,
            GET_PUBLIC_KEY,
            GET_SECRET_VALUE,
            GENERATE_DATA_KEY_PAIR,
            GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT,
            ADVANCE_GENERATE_DATA_KEY_PAIR,
            ADVANCE_GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT,
        )
    }
)


def string_to_sign(
    method: str,
    content_sha256: str,
    content_type: str,
    date: str,
    kms_headers: Iterable[tuple[str, str]],
) -> str:
    """The SDK's string to sign; ``kms_headers`` are (lower-case name, value) pairs."""
    canonical = "".join(f"{name}:{value.strip()}\n" for name, value in sorted(kms_headers))
    return f"{method}\n{content_sha256}\n{content_type}\n{date}\n{canonical}/"


def encode(message: Message) -> bytes:
    """A message's wire bytes, deterministic and canonical as every official SDK emits them."""
    return message.SerializeToString(deterministic=True)
