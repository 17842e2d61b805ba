"""The catalogue agrees with the KMS API as the official SDKs send it (kms-api-actions.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mamori.api.catalogue import KMS_VERSION, Action
from mamori.api.errors import ERRORS
from mamori.api.registry import catalogue
from mamori.api.unimplemented import IGNORED, REFUSED

# /work/shared/spec next to the checkout; MAMORI_KMS_SPEC names it from a worktree elsewhere.
SPEC = Path(
    os.environ.get("MAMORI_KMS_SPEC")
    or Path(__file__).resolve().parents[3] / "shared" / "spec" / "kms-api-actions.json"
)

FOUNDATION = {
    "CreateKey", "DescribeKey", "ListKeys", "EnableKey", "DisableKey", "ScheduleKeyDeletion",
    "CancelKeyDeletion", "UpdateKeyDescription", "SetDeletionProtection", "CreateAlias",
    "UpdateAlias", "DeleteAlias", "ListAliases", "ListAliasesByKeyId", "CreateKeyVersion",
    "DescribeKeyVersion", "ListKeyVersions", "UpdateRotationPolicy", "TagResource",
    "UntagResource", "ListResourceTags", "TagResources", "UntagResources", "ListTagResources",
    "Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt",
    "DescribeRegions", "DescribeAccountKmsStatus", "OpenKmsService",
}  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SPEC} is missing")
        pytest.skip(f"{SPEC} is missing")
    return {a["Action"]: a for a in json.loads(SPEC.read_text("utf-8"))["actions"]}


def _kms_actions() -> list[Action]:
    return [a for a in catalogue().all() if a.version == KMS_VERSION and not a.extension]


def test_extensions_are_not_alibaba_actions(spec: dict[str, Any]) -> None:
    extensions = {a.name for a in catalogue().all() if a.extension}
    assert {
        "CreateKmsInstance",
        "UpdateKmsInstance",
        "CreateManagedDataKey",
        "RotateManagedDataKey",
    } <= extensions
    assert not extensions & set(spec)


def _wire_names(entry: dict[str, Any]) -> set[str]:
    names = {p["name"] for p in entry.get("request", [])}
    names |= {p["name"] for p in entry.get("oldSdk", {}).get("params", [])}
    # Flattened families are listed as ``Tag.N.Key | Tag.N.Value``; the catalogue names the family.
    return {name.split(".")[0] for name in names}


def test_every_foundation_action_is_served() -> None:
    served = {a.name for a in catalogue().all() if a.version == KMS_VERSION}
    assert served >= FOUNDATION


def test_every_action_of_the_api_is_served(spec: dict[str, Any]) -> None:
    """All of the 2016-01-20 API: an action of kms-api-actions.json missing from the catalogue
    fails here, not only a parameter of one that exists."""
    served = {a.name for a in _kms_actions()}
    missing = sorted(set(spec) - served)
    assert not missing, f"not served: {missing}"
    assert len(spec) == 102 and served == set(spec)


def test_every_parameter_the_sdks_send_is_declared_or_refused(spec: dict[str, Any]) -> None:
    """A documented parameter is never silently dropped: the action declares it (and acts on
    it, or lists it in IGNORED with the reason) or refuses it (REFUSED); nothing else."""
    for action in _kms_actions():
        entry = spec.get(action.name)
        assert entry is not None, f"{action.name} is not a KMS API action"
        declared = {p.name for p in action.params}
        refused = set(REFUSED.get((action.version, action.name), ()))
        assert not declared & refused, action.name
        assert declared | refused == _wire_names(entry), action.name


def test_refused_and_ignored_parameters_are_documented_and_refused_ones_are_scalar(
    spec: dict[str, Any],
) -> None:
    served = {(a.version, a.name): a for a in catalogue().all()}
    for (version, name), refused in REFUSED.items():
        assert (version, name) in served, name
        flattened = {
            p["name"] for p in spec[name].get("request", []) if p.get("encoding") == "flattened"
        }
        assert set(refused) <= _wire_names(spec[name]) - flattened, name
    for (version, name, param), reason in IGNORED.items():
        assert param in {p.name for p in served[(version, name)].params}, (name, param)
        assert param in _wire_names(spec[name]) and reason, (name, param)


def test_parameters_the_sdks_require_are_required(spec: dict[str, Any]) -> None:
    for action in _kms_actions():
        required = {p["name"] for p in spec[action.name].get("request", []) if p.get("required")}
        declared = {p.name: p for p in action.params}
        for name in required:
            assert declared[name].required, f"{action.name}.{name} should be required"


def test_ram_actions_and_error_codes_are_well_formed() -> None:
    for action in catalogue().all():
        assert action.ram_action == f"{action.service}:{action.name}"
    for code, row in ERRORS.items():
        assert row.code == code and 400 <= row.status <= 599
