"""Official SDK clients pointed at a test server (the recipes of spec/kms-api.md §8)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest


def new_sdk(
    endpoint: str, ak: str, secret: str, *, protocol: str = "http", **config: Any
) -> Client:
    """The new SDK (``alibabacloud-kms20160120``); ``config`` adds Config fields
    (``signature_version='v4'``, ``signature_algorithm='v2'``, ``ca=…``)."""
    return Client(
        open_api_models.Config(
            access_key_id=ak,
            access_key_secret=secret,
            endpoint=endpoint,
            protocol=protocol,
            **config,
        )
    )


def ram_sdk(
    endpoint: str, ak: str, secret: str, *, protocol: str = "http", **config: Any
) -> RamClient:
    """The new RAM SDK (``alibabacloud-ram20150501``); ``config`` adds Config fields."""
    return RamClient(
        open_api_models.Config(
            access_key_id=ak,
            access_key_secret=secret,
            endpoint=endpoint,
            protocol=protocol,
            **config,
        )
    )


class OldSdk:
    """The old SDK (``aliyun-python-sdk-kms``): sets endpoint and protocol on every request,
    as its request classes hard-code https."""

    def __init__(self, endpoint: str, ak: str, secret: str, *, verify: str | None = None) -> None:
        self.endpoint = endpoint
        self.protocol = "https" if verify else "http"
        self.client = AcsClient(ak, secret, "cn-hangzhou", verify=verify)

    def call(self, request: RpcRequest) -> dict[str, Any]:
        """Send a request object and return the parsed JSON body."""
        request.set_endpoint(self.endpoint)
        request.set_protocol_type(self.protocol)
        return json.loads(self.client.do_action_with_exception(request))


def expect_error(code: str, status: int, call: Callable[[], Any]) -> AlibabaCloudException:
    """Run ``call`` and check the new SDK raises exactly this error code and HTTP status."""
    with pytest.raises(AlibabaCloudException) as info:
        call()
    assert (info.value.code, info.value.status_code) == (code, status), info.value.message
    return info.value


def b64(data: bytes) -> str:
    """Standard base64 text, as the KMS API carries binary parameters."""
    return base64.b64encode(data).decode("ascii")
