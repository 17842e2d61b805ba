"""The three answer shapes of a secret read (``ResponseType``) and of an error.

0 — KMS: ``GetSecretValue``'s JSON as the server returned it.
1 — AWS Secrets Manager: ``{"ARN","Name","VersionId","SecretString"|"SecretBinary",
    "VersionStages","CreatedDate"}``, errors ``{"__type","message"}``.
2 — HashiCorp Vault KV v2 (``GET /v1/secret/data/<path>``'s shape; exact layout in
    docs/agent.md), errors ``{"errors": ["<Code>: <message>"]}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

KMS: Final = 0
AWS: Final = 1
VAULT: Final = 2


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _epoch(iso_time: str) -> str | None:
    """KMS's ``yyyy-MM-ddTHH:mm:ssZ`` as AWS's CreatedDate: epoch seconds with a fraction."""
    try:
        moment = datetime.strptime(iso_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    return f"{moment.timestamp():.3f}"


def _stages(body: dict[str, Any]) -> list[str]:
    stages = body.get("VersionStages") or {}
    found = stages.get("VersionStage", []) if isinstance(stages, dict) else stages
    return [str(s) for s in found] if isinstance(found, list) else []


def render_secret(response_type: int, body: dict[str, Any], arn_prefix: str) -> bytes:
    """A secret's answer in the configured shape; ``arn_prefix`` is ``acs:kms:<region>:<account>:``
    when the account is known, else empty (ARN is then null)."""
    if response_type == KMS:
        return _dump(body)
    name = str(body.get("SecretName", ""))
    data = str(body.get("SecretData", ""))
    binary = body.get("SecretDataType") == "binary"
    if response_type == AWS:
        aws: dict[str, Any] = {
            "ARN": f"{arn_prefix}secret/{name}" if arn_prefix else None,
            "Name": name,
            "VersionId": body.get("VersionId"),
            ("SecretBinary" if binary else "SecretString"): data,
            "VersionStages": _stages(body),
            "CreatedDate": _epoch(str(body.get("CreateTime", ""))),
        }
        return _dump(aws)
    return _dump(_vault(body, name, data))


def _vault(body: dict[str, Any], name: str, data: str) -> dict[str, Any]:
    values: Any = None
    if body.get("SecretDataType") != "binary":
        try:
            values = json.loads(data)
        except ValueError:
            values = None
    if not isinstance(values, dict):
        values = {"SecretData": data}
    return {
        "request_id": str(body.get("RequestId", "")),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": {
            "data": values,
            "metadata": {
                "created_time": str(body.get("CreateTime", "")),
                "custom_metadata": {
                    "SecretName": name,
                    "SecretType": str(body.get("SecretType", "")),
                    "SecretDataType": str(body.get("SecretDataType", "")),
                    "VersionStages": ",".join(_stages(body)),
                },
                "deletion_time": "",
                "destroyed": False,
                "version": str(body.get("VersionId", "")),
            },
        },
        "wrap_info": None,
        "warnings": None,
        "auth": None,
    }


def render_error(response_type: int, code: str, message: str, request_id: str = "") -> bytes:
    """An error in the configured shape; the HTTP status is the caller's."""
    if response_type == AWS:
        return _dump({"__type": code, "message": message})
    if response_type == VAULT:
        return _dump({"errors": [f"{code}: {message}"]})
    return _dump({"RequestId": request_id, "Code": code, "Message": message})


def render_json(value: dict[str, Any]) -> bytes:
    """A JSON answer of the agent's own endpoints (envelope, stats)."""
    return _dump(value)
