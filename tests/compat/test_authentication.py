"""Gateway authentication errors as the official SDKs surface them, for every signature style.

The server is never mocked: to make an official client misbehave (wrong clock, reused nonce,
tampered body) the test monkeypatches the CLIENT library, the one place those values come from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, NamedTuple

import httpx
import pytest
import requests
from alibabacloud_openapi_util.client import Client as OpenApiUtilClient
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_util.client import Client as UtilClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.utils import parameter_helper
from aliyunsdkkms.request.v20160120.DescribeRegionsRequest import DescribeRegionsRequest
from darabonba.runtime import RuntimeOptions
from Tea.exceptions import TeaException

from tests.compat.sdk import OldSdk, new_sdk
from tests.conftest import ServerProcess

ACS3 = "ACS3"  # new SDK default
ACS4 = "ACS4"  # new SDK, signature_version='v4'
RPC_V1 = "RPC-V1"  # new SDK, signature_algorithm='v2'
OLD = "OLD"  # old SDK, RPC V1 always
STYLES = (ACS3, ACS4, RPC_V1, OLD)
NEW_SDK_CONFIG: dict[str, dict[str, str]] = {
    ACS3: {},
    ACS4: {"signature_version": "v4"},
    RPC_V1: {"signature_algorithm": "v2"},
}
SDK_DATE = "%Y-%m-%dT%H:%M:%SZ"
UNKNOWN_AK = "LTAI00000000NoSuchAccessKey"
MAX_BODY = 64 * 1024

# Where each style's client takes its timestamp and its nonce from.
Target = tuple[type | ModuleType, str]
TIMESTAMP_SOURCE: dict[str, Target] = {
    ACS3: (Utils, "get_timestamp"),
    RPC_V1: (Utils, "get_timestamp"),
    ACS4: (OpenApiUtilClient, "get_timestamp"),
    OLD: (parameter_helper, "get_iso_8061_date"),
}
NONCE_SOURCE: dict[str, Target] = {
    ACS3: (Utils, "get_nonce"),
    RPC_V1: (Utils, "get_nonce"),
    ACS4: (UtilClient, "get_nonce"),
    OLD: (parameter_helper, "get_uuid"),
}


class Failure(NamedTuple):
    """What an SDK exception says, whichever SDK raised it."""

    code: str
    status: int
    message: str


def describe_regions(server: ServerProcess, style: str, ak: str, secret: str) -> None:
    """One cheap signed call (DescribeRegions) in ``style``; raises the SDK's own exception."""
    if style == OLD:
        OldSdk(server.endpoint, ak, secret).call(DescribeRegionsRequest())
    else:
        body = new_sdk(server.endpoint, ak, secret, **NEW_SDK_CONFIG[style]).describe_regions().body
        assert body.regions.region[0].region_id == "cn-hangzhou"


def failure_of(send: Callable[[], object]) -> Failure:
    """Run ``send`` and return the error either SDK raised."""
    try:
        send()
    except ServerException as exc:  # old SDK
        return Failure(exc.get_error_code(), exc.get_http_status(), exc.get_error_msg())
    except TeaException as exc:  # new SDK: ClientException, or UnretryableException for ACS4
        data: dict[str, Any] = exc.data
        return Failure(str(exc.code), int(data["statusCode"]), str(data["Message"]))
    raise AssertionError("the call succeeded")


def ok(server: ServerProcess, style: str) -> None:
    describe_regions(server, style, server.access_key_id, server.access_key_secret)


def fails(server: ServerProcess, style: str, *, ak: str = "", secret: str = "") -> Failure:
    return failure_of(
        lambda: describe_regions(
            server, style, ak or server.access_key_id, secret or server.access_key_secret
        )
    )


def patch_source(monkeypatch: pytest.MonkeyPatch, target: Target, fn: Callable[[], str]) -> None:
    owner, name = target
    monkeypatch.setattr(owner, name, staticmethod(fn) if isinstance(owner, type) else fn)


# -- wrong secret ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", [ACS3, ACS4, RPC_V1])
def test_wrong_secret_is_signature_does_not_match(server: ServerProcess, style: str) -> None:
    failure = fails(server, style, secret="not-the-secret")
    assert failure.code == "SignatureDoesNotMatch"
    assert failure.status == 400
    head, colon, string_to_sign = failure.message.partition(":")
    assert colon
    assert (
        head == "Specified signature is not matched with our calculation. server string to sign is"
    )
    expected_start = {
        ACS3: "ACS3-HMAC-SHA256\n",
        ACS4: "ACS4-HMAC-SHA256\n",
        RPC_V1: "POST&%2F&AccessKeyId%3D",
    }[style]
    assert string_to_sign.startswith(expected_start)


def test_wrong_secret_old_sdk_recognises_its_own_string_to_sign(server: ServerProcess) -> None:
    # The old SDK compares the tail after ':' with its own V1 string-to-sign and, when they are
    # equal, rewrites the error: this only happens if our message is byte-exact (spec §5.3).
    failure = fails(server, OLD, secret="not-the-secret")
    assert failure.code == "InvalidAccessKeySecret"
    assert failure.status == 400
    assert failure.message.startswith("The AccessKeySecret is incorrect.")


# -- unknown AccessKey -------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_unknown_access_key_id(server: ServerProcess, style: str) -> None:
    failure = fails(server, style, ak=UNKNOWN_AK, secret="whatever")
    assert failure == Failure(
        "InvalidAccessKeyId.NotFound", 404, "Specified access key is not found."
    )


# -- clock skew --------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [-16, 16])
@pytest.mark.parametrize("style", STYLES)
def test_client_clock_off_by_more_than_15_minutes(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, style: str, minutes: int
) -> None:
    skewed = (datetime.now(UTC) + timedelta(minutes=minutes)).strftime(SDK_DATE)
    patch_source(monkeypatch, TIMESTAMP_SOURCE[style], lambda: skewed)
    assert fails(server, style) == Failure(
        "InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."
    )


@pytest.mark.parametrize("minutes", [-14, 14])
@pytest.mark.parametrize("style", STYLES)
def test_client_clock_within_15_minutes_is_accepted(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, style: str, minutes: int
) -> None:
    skewed = (datetime.now(UTC) + timedelta(minutes=minutes)).strftime(SDK_DATE)
    patch_source(monkeypatch, TIMESTAMP_SOURCE[style], lambda: skewed)
    ok(server, style)


# -- nonce replay ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_reused_nonce_is_refused(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    nonce = uuid.uuid4().hex
    patch_source(monkeypatch, NONCE_SOURCE[style], lambda: nonce)
    ok(server, style)
    assert fails(server, style) == Failure(
        "SignatureNonceUsed", 400, "Specified signature nonce was used already."
    )


@pytest.mark.parametrize("style", [ACS3, OLD])
def test_badly_signed_request_does_not_burn_its_nonce(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    nonce = uuid.uuid4().hex
    patch_source(monkeypatch, NONCE_SOURCE[style], lambda: nonce)
    assert fails(server, style, secret="not-the-secret").code in (
        "SignatureDoesNotMatch",
        "InvalidAccessKeySecret",
    )
    assert fails(server, style, ak=UNKNOWN_AK).code == "InvalidAccessKeyId.NotFound"
    ok(server, style)


# -- unknown action or version -----------------------------------------------------------------


def _generic_call(server: ServerProcess, style: str, action: str, version: str) -> Failure:
    client = new_sdk(
        server.endpoint,
        server.access_key_id,
        server.access_key_secret,
        **NEW_SDK_CONFIG[style],
    )
    params = open_api_util_models.Params(
        action=action,
        version=version,
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_util_models.OpenApiRequest(query={"KeyId": "alias/whatever"})
    return failure_of(lambda: client.call_api(params, request, RuntimeOptions()))


@pytest.mark.parametrize("style", [ACS3, ACS4, RPC_V1])
def test_unknown_action(server: ServerProcess, style: str) -> None:
    assert _generic_call(server, style, "NoSuchAction", "2016-01-20") == Failure(
        "InvalidAction.NotFound",
        404,
        "Specified api is not found, please check your url and method.",
    )


@pytest.mark.parametrize("style", [ACS3, ACS4, RPC_V1])
def test_unknown_version(server: ServerProcess, style: str) -> None:
    assert _generic_call(server, style, "DescribeRegions", "2099-01-01") == Failure(
        "InvalidVersion", 400, "Specified parameter Version is not valid."
    )


def test_generic_call_of_a_real_action_succeeds(server: ServerProcess) -> None:
    client = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    params = open_api_util_models.Params(
        action="DescribeRegions",
        version="2016-01-20",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    result = client.call_api(params, open_api_util_models.OpenApiRequest(), RuntimeOptions())
    assert result["statusCode"] == 200
    assert result["body"]["Regions"] == {"Region": [{"RegionId": "cn-hangzhou"}]}


# -- body integrity ----------------------------------------------------------------------------


@pytest.fixture
def tampering_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Replace the body of every request the new SDK's transport (``requests``) sends, after
    the SDK has hashed and signed it: a man in the middle rewriting the payload."""
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        forged = b"KeyId=forged&Plaintext=Zm9yZ2Vk"
        request.body = forged
        request.headers["Content-Length"] = str(len(forged))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    yield


@pytest.mark.parametrize("style", [ACS3, ACS4])
@pytest.mark.usefixtures("tampering_transport")
def test_body_not_matching_content_sha256(server: ServerProcess, style: str) -> None:
    failure = fails(server, style)
    assert (failure.code, failure.status) == ("IncompleteSignature", 400)
    assert "x-acs-content-sha256" in failure.message


# -- transport level ---------------------------------------------------------------------------


def _error_body(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert {"RequestId", "HostId", "Code", "Message", "Recommend"} <= body.keys()
    return body


def test_oversized_body_is_refused(server: ServerProcess) -> None:
    url = f"http://{server.endpoint}/"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(url, content=b"a" * (MAX_BODY + 1), headers=headers, timeout=10)
    assert response.status_code == 413
    assert _error_body(response)["Code"] == "RequestTooLarge"


def test_oversized_chunked_body_is_refused(server: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(9):
            yield b"a" * 8192

    url = f"http://{server.endpoint}/"
    response = httpx.post(url, content=chunks(), timeout=10)
    assert response.status_code == 413
    assert _error_body(response)["Code"] == "RequestTooLarge"


def test_body_at_the_limit_is_read(server: ServerProcess) -> None:
    # Exactly the limit passes the size check and fails later, on the missing signature.
    url = f"http://{server.endpoint}/"
    response = httpx.post(url, content=b"a" * MAX_BODY, timeout=10)
    assert response.status_code == 400
    assert _error_body(response)["Code"] == "IncompleteSignature"


def test_health_over_http(server: ServerProcess) -> None:
    response = httpx.get(f"http://{server.endpoint}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"Status": "ok", "Audit": "ok"}


def test_health_over_https(server: ServerProcess) -> None:
    response = httpx.get(
        f"https://{server.tls_endpoint}/health", verify=str(server.ca_file), timeout=5
    )
    assert response.status_code == 200
    assert response.json() == {"Status": "ok", "Audit": "ok"}
