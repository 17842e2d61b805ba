"""``mamori secrets``: secrets and their versions, through the KMS API.

A secret's value never reaches the terminal unless asked for (``get --reveal``), and never
comes from the command line (where shell history and ``ps`` would keep it): it is read from a
file or from standard input.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.cli.remote import USAGE, JsonOpt, fail, pages, say, session, show
from mamori.client import _instance_shapes as shapes
from mamori.wire import instance as api

app = typer.Typer(help="Secrets and their versions.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Secret name")]
ValueFileOpt = Annotated[
    Path,
    typer.Option("--value-file", help="Read the value from this file ('-': standard input)"),
]
VersionOpt = Annotated[str, typer.Option("--version-id", help="Name of the new version")]
COLUMNS = ("SecretName", "SecretType", "CreateTime", "UpdateTime", "PlannedDeleteTime")
HIDDEN = "(hidden: --reveal shows it)"
MAX_VALUE_BYTES = 64 * 1024


def _read_value(path: Path) -> tuple[str, str]:
    """(SecretData, SecretDataType): text as it is, anything else as base64 binary."""
    try:
        data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 1) if str(path) == "-" else _file(path)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", USAGE)
    if len(data) > MAX_VALUE_BYTES:
        fail(f"a secret value is at most {MAX_VALUE_BYTES} bytes", USAGE)
    try:
        return data.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "binary"


def _file(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(MAX_VALUE_BYTES + 1)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List secrets."""
    found = pages("ListSecrets", "SecretList", "Secret")
    show(found, as_json, "Secrets", found, COLUMNS)


@app.command("create")
def create(
    name: NameArg,
    value_file: ValueFileOpt,
    version_id: VersionOpt = "v1",
    key: Annotated[
        str | None, typer.Option("--key", help="Key that encrypts it (EncryptionKeyId)")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    instance: Annotated[str | None, typer.Option("--instance", help="KMS instance (kst-…)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a generic secret.

    Example: printf %s "$PASSWORD" | mamori secrets create db-password --value-file -
    """
    data, data_type = _read_value(value_file)
    made = session.call(
        "CreateSecret",
        SecretName=name,
        VersionId=version_id,
        SecretData=data,
        SecretDataType=data_type,
        EncryptionKeyId=key,
        Description=description,
        DKMSInstanceId=instance,
    )
    show(made, as_json, "Created", [made], ("SecretName", "VersionId", "Arn"))


@app.command("describe")
def describe(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show a secret's metadata and its versions with their stages (never the value)."""
    meta = session.call("DescribeSecret", SecretName=name)
    versions = _versions(name)
    if as_json:
        show({**meta, "Versions": versions}, True, "", [], ())
        return
    fields = [{"Field": k, "Value": v} for k, v in meta.items() if k != "RequestId"]
    show(None, False, name, fields, ("Field", "Value"))
    show(None, False, "Versions", versions, ("VersionId", "VersionStages", "CreateTime"))


def _versions(name: str) -> list[dict[str, Any]]:
    found = pages("ListSecretVersionIds", "VersionIds", "VersionId", SecretName=name,
                  IncludeDeprecated="true")  # fmt: skip
    for version in found:
        stages = version.get("VersionStages", {})
        if isinstance(stages, dict):
            version["VersionStages"] = stages.get("VersionStage", [])
    return found


@app.command("versions")
def versions(name: NameArg, as_json: JsonOpt = False) -> None:
    """List a secret's versions and stages."""
    found = _versions(name)
    show(found, as_json, f"Versions of {name}", found, ("VersionId", "VersionStages", "CreateTime"))


@app.command("get")
def get(
    name: NameArg,
    version_id: Annotated[str | None, typer.Option("--version-id")] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="e.g. ACSPrevious")] = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show the value")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read a version of a secret (ACSCurrent by default); the value only with --reveal.

    Example: mamori secrets get db-password --reveal --json | jq -r .SecretData
    """
    instance = session.instance()
    if instance is not None:
        with session.guard():
            answer = instance.call(
                api.GET_SECRET_VALUE, SecretName=name, VersionId=version_id, VersionStage=stage
            )
        got = shapes.secret_value_json(answer)
    else:
        got = session.call(
            "GetSecretValue", SecretName=name, VersionId=version_id, VersionStage=stage
        )
    if not reveal:
        got["SecretData"] = HIDDEN
    show(got, as_json, name, [got], ("SecretName", "VersionId", "SecretDataType", "SecretData"))


@app.command("put-value")
def put_value(
    name: NameArg, value_file: ValueFileOpt, version_id: VersionOpt, as_json: JsonOpt = False
) -> None:
    """Store a new value as a new version, which becomes ACSCurrent."""
    data, data_type = _read_value(value_file)
    done = session.call("PutSecretValue", SecretName=name, VersionId=version_id, SecretData=data,
                        SecretDataType=data_type)  # fmt: skip
    show(done, as_json, "Stored", [done], ("SecretName", "VersionId", "VersionStages"))


@app.command("rotate")
def rotate(name: NameArg, version_id: VersionOpt, as_json: JsonOpt = False) -> None:
    """Rotate a secret now (a managed secret gets a new value; a generic one a new version)."""
    done = session.call("RotateSecret", SecretName=name, VersionId=version_id)
    show(done, as_json, "Rotated", [done], ("SecretName", "VersionId", "Arn"))


@app.command("delete")
def delete(
    name: NameArg,
    recovery_days: Annotated[
        int | None, typer.Option("--recovery-days", help="Recoverable for 7 … 30 days")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete at once, without a recovery window")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a secret, restorable until its planned deletion time unless --force."""
    done = session.call(
        "DeleteSecret",
        SecretName=name,
        RecoveryWindowInDays=recovery_days,
        ForceDeleteWithoutRecovery=True if force else None,
    )
    if as_json:
        show(done, True, "", [], ())
    else:
        when = done.get("PlannedDeleteTime") or "now"
        say(f"deleted {name} (planned deletion: {when})")


@app.command("restore")
def restore(name: NameArg, as_json: JsonOpt = False) -> None:
    """Cancel a secret's pending deletion."""
    done = session.call("RestoreSecret", SecretName=name)
    if as_json:
        show(done, True, "", [], ())
    else:
        say(f"restored {name}")
