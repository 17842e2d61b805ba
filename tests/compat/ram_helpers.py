"""RAM users with their own SDK clients, and policy documents, for the policy and enforcement
tests. Users are made through the RAM SDK itself (CreateUser, CreateAccessKey)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from darabonba.runtime import RuntimeOptions

from mamori.config import Settings
from tests.compat.sdk import b64, new_sdk, ram_sdk
from tests.conftest import ServerProcess


def unique(prefix: str) -> str:
    """A name no other test uses: the server (and its account) is shared by every module."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def doc(*statements: dict[str, Any]) -> str:
    """A version-1 policy document."""
    return json.dumps({"Version": "1", "Statement": list(statements)})


def allow(action: Any = "kms:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """An Allow statement."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "kms:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """A Deny statement."""
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


@dataclass
class RamUser:
    """A RAM user and clients signing with its AccessKey."""

    name: str
    arn: str
    kms: Client
    ram: RamClient
    generic: OpenApiClient

    def call(self, action: str, version: str, query: dict[str, str]) -> dict[str, Any]:
        """Any action through the SDK core's generic ``call_api`` (RPC, ACS3)."""
        params = open_api_models.Params(
            action=action,
            version=version,
            protocol="HTTP",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )
        request = open_api_models.OpenApiRequest(query=query)
        return dict(self.generic.call_api(params, request, RuntimeOptions()))

    def encrypt(self, key_id: str, context: dict[str, str] | None = None) -> str:
        """Encrypt a few bytes; the ciphertext blob."""
        request = km.EncryptRequest(key_id=key_id, plaintext=b64(b"secret"))
        if context is not None:
            request.encryption_context = context
        return str(self.kms.encrypt(request).body.ciphertext_blob)


def new_user(server: ServerProcess, admin: RamClient, prefix: str = "user") -> RamUser:
    """A fresh RAM user with one AccessKey and no policies."""
    name = unique(prefix)
    admin.create_user(rm.CreateUserRequest(user_name=name))
    key = admin.create_access_key(rm.CreateAccessKeyRequest(user_name=name)).body.access_key
    ak, secret = key.access_key_id, key.access_key_secret
    config = open_api_models.Config(
        access_key_id=ak, access_key_secret=secret, endpoint=server.endpoint, protocol="http"
    )
    account = Settings(data_dir=server.data_dir, store_url=server.store_url).account_id
    return RamUser(
        name=name,
        arn=f"acs:ram::{account}:user/{name}",
        kms=new_sdk(server.endpoint, ak, secret),
        ram=ram_sdk(server.endpoint, ak, secret),
        generic=OpenApiClient(config),
    )


def grant(admin: RamClient, user: str, document: str, *, group: str | None = None) -> str:
    """Create a custom policy and attach it to the user (or to ``group``); its name."""
    name = unique("pol")
    admin.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=document))
    if group is None:
        admin.attach_policy_to_user(
            rm.AttachPolicyToUserRequest(policy_type="Custom", policy_name=name, user_name=user)
        )
    else:
        admin.attach_policy_to_group(
            rm.AttachPolicyToGroupRequest(policy_type="Custom", policy_name=name, group_name=group)
        )
    return name


def new_key(kms: Client) -> str:
    """A fresh symmetric key of the administrator; its id."""
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
