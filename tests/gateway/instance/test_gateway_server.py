"""The dedicated gateway inside a real ``mamori server``, driven by the official dkms-gcs SDK
over HTTPS with Mamori's CA: instance requests on the TLS port reach the instance API (and
answer in the Error protobuf the SDK parses), everything else still reaches the shared gateway.

These tests pin the routing, the TLS set-up and the refusals that come before a client key is
looked up; the calls made with a real client key are in tests/compat/test_dedicated_gateway.py."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest

from mamori.crypto.client_key import issue_client_key, new_key_id
from tests.compat.sdk import b64, new_sdk
from tests.conftest import ServerProcess
from tests.gateway.instance.dkms import run_sdk

PASSWORD = "Gateway-Test-Password_1"


@pytest.fixture(scope="module")
def client_key() -> str:
    """A ClientKeyContent the server does not know."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    issued = issue_client_key(
        new_key_id(), PASSWORD, now - timedelta(days=1), now + timedelta(days=1)
    )
    return issued.content


def _call(python: object, server: ServerProcess, content: str, api: str, **args: object) -> dict:
    return run_sdk(
        python,  # type: ignore[arg-type]
        "call",
        endpoint=server.tls_endpoint,
        protocol="https",
        ca_file=str(server.ca_file),
        client_key_content=content,
        password=PASSWORD,
        api=api,
        method=api[0].lower() + "".join("_" + c.lower() if c.isupper() else c for c in api[1:]),
        args=args,
    )


def test_an_unknown_client_key_is_unauthorized_over_tls(
    dkms_python: object, server: ServerProcess, client_key: str
) -> None:
    result = _call(dkms_python, server, client_key, "GenerateRandom", length=16)
    error = result["error"]
    assert error["code"] == "Unauthorized"
    assert error["data"]["httpCode"] == 401
    assert len(error["data"]["requestId"]) == 36


def test_the_shared_gateway_still_answers_on_the_tls_port(server: ServerProcess) -> None:
    client = new_sdk(
        server.tls_endpoint,
        server.access_key_id,
        server.access_key_secret,
        protocol="https",
        ca=str(server.ca_file),
    )
    from alibabacloud_kms20160120 import models as km

    key_id = client.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    blob = client.encrypt(km.EncryptRequest(key_id=key_id, plaintext=b64(b"tls"))).body
    assert blob.key_id == key_id


def _raw(server: ServerProcess, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    request = urllib.request.Request(
        f"https://{server.tls_endpoint}/", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _error(payload: bytes) -> tuple[int, str, str]:
    from mamori.wire import instance_api_pb2 as pb

    error = pb.Error.FromString(payload)
    return error.StatusCode, error.ErrorCode, error.ErrorMessage


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # A protobuf request without its headers gets a protobuf answer, not POP JSON.
        (
            {"content-type": "application/x-protobuf"},
            (
                400,
                "MissingParameter",
                "Parameter x-kms-apiversion does not exist in http header or body.",
            ),
        ),
        (
            {"x-kms-apiname": "Encrypt", "x-kms-apiversion": "dkms-gcs-0.1"},
            (400, "InvalidApiVersion", 'The ApiVersion "dkms-gcs-0.1" is invalid.'),
        ),
    ],
)
def test_half_formed_instance_requests_get_the_error_protobuf(
    server: ServerProcess, headers: dict[str, str], expected: tuple[int, str, str]
) -> None:
    status, payload = _raw(server, headers)
    assert status == expected[0]
    assert _error(payload) == expected


def test_an_oversized_body_is_request_too_large(server: ServerProcess) -> None:
    status, payload = _raw(
        server, {"content-type": "application/x-protobuf"}, b"\x0a" * (1024 * 1024)
    )
    assert status == 413
    assert _error(payload)[1] == "RequestTooLarge"


def test_plain_http_never_serves_the_instance_api(server: ServerProcess) -> None:
    request = urllib.request.Request(
        f"http://{server.endpoint}/",
        data=b"",
        headers={"content-type": "application/x-protobuf", "x-kms-apiname": "Encrypt"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    body = json.loads(info.value.read())
    assert "Code" in body  # the shared gateway's JSON
