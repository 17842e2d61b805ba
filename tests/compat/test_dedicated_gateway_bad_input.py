"""Bad input on the instance API through real requests: signed with a real client key (made by
``CreateClientKey``) over the SDK's string to sign, so that each one reaches the check it is
meant to reach. No official SDK can send these (it always encodes a well-formed body), which is
why they are built here; the well-formed ones are shown equal to the SDK's elsewhere
(tests/gateway/instance/test_signature.py). Each gets its documented code; nothing changes."""

from __future__ import annotations

import base64
import hashlib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from email.utils import formatdate

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from google.protobuf.message import Message

from mamori.crypto.client_key import LoadedClientKey, load_client_key_content
from mamori.gateway.instance.signature import string_to_sign
from mamori.wire import instance_api_pb2 as pb
from tests.compat.instance_helpers import generic, new_instance
from tests.compat.instance_sdks import grant, unique
from tests.conftest import ServerProcess


class Signed:
    """Signed instance requests with one client key, sent over HTTPS with Mamori's CA."""

    def __init__(self, server: ServerProcess, key: LoadedClientKey) -> None:
        self.server = server
        self.key = key

    def send(
        self,
        body: bytes,
        api: str = "Encrypt",
        *,
        content_sha256: str | None = None,
        signed_body: bytes | None = None,
    ) -> tuple[int, pb.Error | bytes]:
        """POST ``body``; ``signed_body`` is what the signature and hash cover (default: the
        body itself), ``content_sha256`` overrides the hash header."""
        covered = body if signed_body is None else signed_body
        sha = content_sha256 or hashlib.sha256(covered).hexdigest().upper()
        date = formatdate(usegmt=True)
        kms = {
            "x-kms-apiversion": "dkms-gcs-0.2",
            "x-kms-apiname": api,
            "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
            "x-kms-acccesskeyid": self.key.key_id,
        }
        text = string_to_sign("POST", sha, "application/x-protobuf", date, kms.items())
        signature = self.key.private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        headers = {
            **kms,
            "date": date,
            "content-type": "application/x-protobuf",
            "content-sha256": sha,
            "authorization": "Bearer " + base64.b64encode(signature).decode(),
        }
        context = ssl.create_default_context(cafile=str(self.server.ca_file))
        request = urllib.request.Request(
            f"https://{self.server.tls_endpoint}/", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, pb.Error.FromString(exc.read())


@pytest.fixture(scope="module")
def setting(server: ServerProcess, kms: Client) -> tuple[Signed, str, str]:
    instance = new_instance(generic(server), Spec=100_000)
    key_id = str(
        kms.create_key(km.CreateKeyRequest(dkmsinstance_id=instance)).body.key_metadata.key_id
    )
    secret = unique("secret")
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=secret, secret_data="kept", version_id="v1", dkmsinstance_id=instance
        )
    )
    access = grant(kms, instance, ["key/*", "secret/*"])
    loaded = load_client_key_content(access.content, access.password)
    return Signed(server, loaded), key_id, secret


def _encrypt_body(key_id: str, plaintext: bytes = b"hello") -> bytes:
    return pb.EncryptRequest(KeyId=key_id, Plaintext=plaintext).SerializeToString()


def _refused(answer: tuple[int, pb.Error | bytes], status: int, code: str, message: str) -> None:
    got_status, error = answer
    assert isinstance(error, pb.Error), (got_status, error)
    assert (got_status, error.ErrorCode, error.ErrorMessage) == (status, code, message)


BODY = "The specified parameter Body is not valid."


def test_a_well_formed_request_is_served(setting: tuple[Signed, str, str]) -> None:
    signed, key_id, _ = setting
    status, body = signed.send(_encrypt_body(key_id))
    assert status == 200 and isinstance(body, bytes)
    assert pb.EncryptResponse.FromString(body).KeyId == key_id


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\xff",  # a length running past the end
        b"\x0a\x06key-1",  # a length one byte longer than what follows
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint key past 64 bits
        b"\x0b",  # a deprecated group start, never closed
        b"\x12\x02hi\x12\x02hi",  # Plaintext twice
        b"\xfa\x01\x01x",  # an unknown field (31)
    ],
    ids=["overlong-length", "short-by-one", "bad-varint", "group", "twice", "unknown-field"],
)
def test_malformed_protobuf_is_invalid_body(setting: tuple[Signed, str, str], body: bytes) -> None:
    signed, _, _ = setting
    _refused(signed.send(body), 400, "InvalidParameter", BODY)


def test_a_truncated_body_is_invalid(setting: tuple[Signed, str, str]) -> None:
    signed, key_id, _ = setting
    whole = _encrypt_body(key_id, b"x" * 100)
    # The signature and hash cover the cut body (a proxy cutting it would break the hash).
    _refused(signed.send(whole[:-10]), 400, "InvalidParameter", BODY)


def test_a_body_other_than_the_one_hashed_is_refused(setting: tuple[Signed, str, str]) -> None:
    signed, key_id, _ = setting
    whole = _encrypt_body(key_id, b"x" * 100)
    answer = signed.send(whole[:-10], signed_body=whole)
    _refused(answer, 400, "InvalidParam", "The Param Content-SHA256 is invalid.")


@pytest.mark.parametrize(
    "sha",
    [
        hashlib.sha256(b"other").hexdigest().upper(),
        hashlib.sha256(b"").hexdigest().upper(),
        "not-a-hash",
    ],
    ids=["other-body", "empty-body", "garbage"],
)
def test_a_wrong_content_sha256_is_refused(setting: tuple[Signed, str, str], sha: str) -> None:
    signed, key_id, _ = setting
    answer = signed.send(_encrypt_body(key_id), content_sha256=sha)
    _refused(answer, 400, "InvalidParam", "The Param Content-SHA256 is invalid.")


def test_a_lower_case_content_sha256_is_refused(setting: tuple[Signed, str, str]) -> None:
    # The SDK sends upper-case hex; one spelling only (DESIGN §7).
    signed, key_id, _ = setting
    body = _encrypt_body(key_id)
    answer = signed.send(body, content_sha256=hashlib.sha256(body).hexdigest())
    _refused(answer, 400, "InvalidParam", "The Param Content-SHA256 is invalid.")


OVERSIZED: dict[str, tuple[str, Callable[[str], Message], str]] = {
    # id -> (api, the request for a key id, the parameter the message names)
    "key-id": ("Encrypt", lambda _: pb.EncryptRequest(KeyId="k" * 3000, Plaintext=b"x"), "KeyId"),
    "plaintext": (
        "Encrypt",
        lambda key: pb.EncryptRequest(KeyId=key, Plaintext=b"x" * 7000),
        "Plaintext",
    ),
    "aad": (
        "Encrypt",
        lambda key: pb.EncryptRequest(KeyId=key, Plaintext=b"x", Aad=b"a" * 9000),
        "Aad",
    ),
    "random-length": ("GenerateRandom", lambda _: pb.GenerateRandomRequest(Length=2000), "Length"),
    "data-key-bytes": (
        "GenerateDataKey",
        lambda key: pb.GenerateDataKeyRequest(KeyId=key, NumberOfBytes=5000),
        "NumberOfBytes",
    ),
    "secret-name": (
        "GetSecretValue",
        lambda _: pb.GetSecretValueRequest(SecretName="s" * 300),
        "SecretName",
    ),
}


@pytest.mark.parametrize("case", sorted(OVERSIZED))
def test_oversized_fields_are_invalid(setting: tuple[Signed, str, str], case: str) -> None:
    signed, key_id, _ = setting
    api, build, name = OVERSIZED[case]
    status, error = signed.send(build(key_id).SerializeToString(), api)
    assert isinstance(error, pb.Error), (status, error)
    assert (status, error.ErrorCode) == (400, "InvalidParameter"), error
    assert name in error.ErrorMessage, error


def test_a_body_past_the_limit_is_request_too_large(setting: tuple[Signed, str, str]) -> None:
    signed, key_id, _ = setting
    body = _encrypt_body(key_id, b"x" * (65 * 1024))
    status, error = signed.send(body)
    assert isinstance(error, pb.Error)
    assert (status, error.ErrorCode) == (413, "RequestTooLarge")


def test_bad_input_changes_nothing(
    setting: tuple[Signed, str, str], kms: Client, server: ServerProcess
) -> None:
    signed, key_id, secret = setting
    before = kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
    for body in (b"\x0a\xff", _encrypt_body(key_id)[:-3]):
        signed.send(body)
        signed.send(body, "GetSecretValue")
    after = kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
    assert (after.key_state, after.primary_key_version) == (
        before.key_state,
        before.primary_key_version,
    )
    value = kms.get_secret_value(km.GetSecretValueRequest(secret_name=secret)).body
    assert (value.secret_data, value.version_id) == ("kept", "v1")
    status, _ = signed.send(_encrypt_body(key_id))
    assert status == 200
