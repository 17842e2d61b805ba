"""Mamori's instance extensions (CreateKmsInstance, UpdateKmsInstance) through the official
SDK core's generic call: the KMS SDK has no model for an action Alibaba does not have."""

from __future__ import annotations

from typing import Any

from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_util.models import RuntimeOptions

from tests.conftest import ServerProcess


def generic(server: ServerProcess, ak: str = "", secret: str = "") -> OpenApiClient:
    """A generic client with this AccessKey (the administrator's when none is given)."""
    return OpenApiClient(
        open_api_models.Config(
            access_key_id=ak or server.access_key_id,
            access_key_secret=secret or server.access_key_secret,
            endpoint=server.endpoint,
            protocol="http",
        )
    )


def call(client: OpenApiClient, action: str, **query: Any) -> dict[str, Any]:
    """One KMS action (API 2016-01-20) by name; the response body."""
    params = open_api_models.Params(
        action=action,
        version="2016-01-20",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_models.OpenApiRequest(query={k: str(v) for k, v in query.items()})
    return dict(client.call_api(params, request, RuntimeOptions())["body"])


def new_instance(client: OpenApiClient, **figures: Any) -> str:
    """CreateKmsInstance; the new instance's id."""
    return str(call(client, "CreateKmsInstance", **figures)["KmsInstanceId"])
