"""BatchGetSecretValue: up to 20 secrets in one call, each authorized as kms:GetSecretValue on
its own ARN; a secret that is refused or cannot be read is reported in Errors, not the call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mamori.api.catalogue import Action, Args, Call, Result, Touch
from mamori.api.dispatch import require_touch
from mamori.api.errors import ApiError, invalid, missing
from mamori.api.params import JsonParam
from mamori.api.secrets.values import READS, key_touch, secret_resource, value_result
from mamori.core.errors import DomainError

MAX_SECRETS = 20
"""Alibaba documents at most 20 secrets per call (as AWS Secrets Manager does)."""

_FIELDS = {"SecretName": 192, "VersionId": 64, "VersionStage": 64, "FetchExtendedConfig": 8}


@dataclass(frozen=True, slots=True)
class Wanted:
    """One entry of SecretsList."""

    name: str
    version_id: str | None
    stage: str | None
    fetch_extended_config: bool


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", ""):
        return value.lower() == "true"
    raise invalid("SecretsList", "FetchExtendedConfig must be true or false.")


def _wanted(item: Any) -> Wanted:
    if not isinstance(item, dict):
        raise invalid("SecretsList", "Each entry must be an object.")
    for key, value in item.items():
        if key not in _FIELDS:
            raise invalid("SecretsList", f"Unknown field {key}.")
        if value is not None and not isinstance(value, (str, bool)):
            raise invalid("SecretsList", f"{key} must be a string.")
        if isinstance(value, str) and len(value) > _FIELDS[key]:
            raise invalid("SecretsList", f"{key} is longer than {_FIELDS[key]} characters.")
    name = item.get("SecretName")
    if not isinstance(name, str) or not name:
        raise missing("SecretsList.SecretName")
    version_id, stage = item.get("VersionId") or None, item.get("VersionStage") or None
    if isinstance(version_id, bool) or isinstance(stage, bool):
        raise invalid("SecretsList", "VersionId and VersionStage must be strings.")
    return Wanted(name, version_id, stage, _flag(item.get("FetchExtendedConfig", False)))


@dataclass(frozen=True, slots=True)
class SecretsList(JsonParam):
    """``[{"SecretName": …, "VersionId"?, "VersionStage"?, "FetchExtendedConfig"?}, …]``."""

    def shape(self, value: Any) -> Any:
        """Check the list (1 to ``MAX_SECRETS`` entries)."""
        if not isinstance(value, list) or not value:
            raise invalid(self.name, "It must be a non-empty JSON array of objects.")
        if len(value) > MAX_SECRETS:
            raise invalid(self.name, f"At most {MAX_SECRETS} secrets are allowed.")
        return [_wanted(item) for item in value]


def _error(name: str, error: ApiError) -> Result:
    return {
        "SecretName": name,
        "Code": error.code,
        "Message": error.message,
        "HttpStatus": error.status,
    }


def _one(call: Call, wanted: Wanted) -> Result:
    # Each secret on its own, and its encryption key, as GetSecretValue authorizes them;
    # BatchGetSecretValue has no DryRun, so a refusal is Forbidden.NoPermission, reported in
    # Errors.
    arn = secret_resource(call.services, call.scope, {"SecretName": wanted.name})
    require_touch(call, Touch(arn, f"SecretName {wanted.name}", "kms:GetSecretValue"))
    key = key_touch(call.services, call.scope, wanted.name, READS)
    if key is not None:
        require_touch(call, key)
    try:
        secrets = call.services.secrets
        secret, value = secrets.read(call.scope, wanted.name, wanted.version_id, wanted.stage)
    except DomainError as exc:
        raise ApiError(exc.code, **exc.fields) from None
    return value_result(secret, value, wanted.fetch_extended_config)


def batch_get_secret_value(call: Call, args: Args) -> Result:
    """BatchGetSecretValue: SecretValues and Errors are bare arrays, in request order."""
    values: list[Result] = []
    errors: list[Result] = []
    wanted: Wanted
    for wanted in args["SecretsList"]:
        try:
            values.append(_one(call, wanted))
        except ApiError as exc:
            errors.append(_error(wanted.name, exc))
    return {"SecretValues": values, "Errors": errors}


ACTIONS = (
    Action(
        "BatchGetSecretValue",
        (SecretsList("SecretsList", required=True, max_len=8192),),
        batch_get_secret_value,
        read_only=True,
    ),
)
