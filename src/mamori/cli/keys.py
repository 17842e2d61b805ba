"""``mamori keys``: list, create, inspect, enable/disable, rotate and schedule the deletion of
customer master keys, through the KMS API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mamori.cli.remote import JsonOpt, pages, say, session, show, without_request_id

app = typer.Typer(help="Customer master keys (CMKs).", no_args_is_help=True)

KeyArg = Annotated[str, typer.Argument(help="Key id, alias (alias/…) or ARN")]
COLUMNS = ("KeyId", "Aliases", "KeyState", "KeySpec", "KeyUsage", "ProtectionLevel",
           "Description")  # fmt: skip
STATES = ("Enabled", "Disabled", "PendingDeletion", "PendingImport")


def _aliases_by_key() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for alias in pages("ListAliases", "Aliases", "Alias"):
        found.setdefault(alias["KeyId"], []).append(alias["AliasName"])
    return found


def _row(meta: dict[str, Any], aliases: list[str]) -> dict[str, Any]:
    return {**meta, "Aliases": ", ".join(sorted(aliases))}


@app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option("--state", help=f"Only keys in this state: {', '.join(STATES)}")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys with their state, spec, usage and aliases.

    Example: mamori keys list --state PendingDeletion
    """
    if state is not None and state not in STATES:
        raise typer.BadParameter(f"one of {', '.join(STATES)}", param_hint="--state")
    aliases = _aliases_by_key()
    metas = [
        session.call("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]
        for key in pages("ListKeys", "Keys", "Key")
    ]
    rows = [
        _row(m, aliases.get(m["KeyId"], []))
        for m in metas
        if state is None or m["KeyState"] == state
    ]
    show(rows, as_json, "Keys", rows, COLUMNS)


@app.command("create")
def create(
    spec: Annotated[str, typer.Option("--spec", help="KeySpec: Aliyun_AES_256, RSA_2048, …")] = (
        "Aliyun_AES_256"
    ),
    usage: Annotated[
        str, typer.Option("--usage", help="KeyUsage: ENCRYPT/DECRYPT, SIGN/VERIFY")
    ] = ("ENCRYPT/DECRYPT"),
    description: Annotated[str | None, typer.Option("--description")] = None,
    protection_level: Annotated[
        str | None, typer.Option("--protection-level", help="SOFTWARE or HSM")
    ] = None,
    rotation_interval: Annotated[
        str | None,
        typer.Option("--rotation-interval", help="Rotate automatically, e.g. 30d (7d … 365d)"),
    ] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", help="KMS instance (kst-…) to create it in")
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Also name it alias/…")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key (and, with --alias, its alias).

    Example: mamori keys create --description payments --alias alias/payments
    """
    meta = session.call(
        "CreateKey",
        KeySpec=spec,
        KeyUsage=usage,
        Description=description,
        ProtectionLevel=protection_level,
        EnableAutomaticRotation=True if rotation_interval else None,
        RotationInterval=rotation_interval,
        DKMSInstanceId=instance,
    )["KeyMetadata"]
    if alias is not None:
        session.call("CreateAlias", AliasName=alias, KeyId=meta["KeyId"])
    row = _row(meta, [alias] if alias else [])
    show(row, as_json, "Created", [row], COLUMNS)


@app.command("describe")
def describe(key: KeyArg, as_json: JsonOpt = False) -> None:
    """Show a key: metadata, versions, aliases, and its key policy."""
    meta = session.call("DescribeKey", KeyId=key)["KeyMetadata"]
    key_id = meta["KeyId"]
    versions = pages("ListKeyVersions", "KeyVersions", "KeyVersion", KeyId=key_id)
    aliases = pages("ListAliasesByKeyId", "Aliases", "Alias", KeyId=key_id)
    policy = session.call("GetKeyPolicy", KeyId=key_id, PolicyName="default").get("Policy")
    described = {
        "KeyMetadata": meta,
        "KeyVersions": versions,
        "Aliases": [a["AliasName"] for a in aliases],
        "Policy": policy,
    }
    if as_json:
        show(described, True, "", [], ())
        return
    fields = [{"Field": k, "Value": v} for k, v in meta.items()]
    fields.append({"Field": "Aliases", "Value": ", ".join(described["Aliases"])})
    show(None, False, key_id, fields, ("Field", "Value"))
    show(None, False, "Versions", versions, ("KeyVersionId", "CreationDate"))


def _state_change(action: str, key: str, as_json: bool, **params: Any) -> None:
    answer = session.call(action, KeyId=key, **params)
    meta = session.call("DescribeKey", KeyId=key)["KeyMetadata"]
    if as_json:
        show({**without_request_id(answer), "KeyMetadata": meta}, True, "", [], ())
    else:
        say(f"{meta['KeyId']}: {meta['KeyState']}")


@app.command("enable")
def enable(key: KeyArg, as_json: JsonOpt = False) -> None:
    """Enable a key."""
    _state_change("EnableKey", key, as_json)


@app.command("disable")
def disable(key: KeyArg, as_json: JsonOpt = False) -> None:
    """Disable a key: it then encrypts and decrypts nothing until enabled."""
    _state_change("DisableKey", key, as_json)


@app.command("schedule-deletion")
def schedule_deletion(
    key: KeyArg,
    days: Annotated[int, typer.Option("--days", help="Pending window, 7 … 366 days")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Schedule a key's deletion after a pending window (cancel with cancel-deletion).

    Example: mamori keys schedule-deletion alias/old --days 7
    """
    _state_change("ScheduleKeyDeletion", key, as_json, PendingWindowInDays=days)


@app.command("cancel-deletion")
def cancel_deletion(key: KeyArg, as_json: JsonOpt = False) -> None:
    """Cancel a scheduled deletion; the key returns to Enabled."""
    _state_change("CancelKeyDeletion", key, as_json)


@app.command("rotate")
def rotate(key: KeyArg, as_json: JsonOpt = False) -> None:
    """Make a new key version, the one that encrypts from now on (older ones still decrypt)."""
    made = session.call("CreateKeyVersion", KeyId=key)["KeyVersion"]
    show(made, as_json, "New version", [made], ("KeyId", "KeyVersionId", "CreationDate"))


@app.command("versions")
def versions(key: KeyArg, as_json: JsonOpt = False) -> None:
    """List a key's versions."""
    key_id = session.call("DescribeKey", KeyId=key)["KeyMetadata"]["KeyId"]
    found = pages("ListKeyVersions", "KeyVersions", "KeyVersion", KeyId=key_id)
    show(found, as_json, f"Versions of {key_id}", found, ("KeyVersionId", "CreationDate"))
