"""``mamori instances``: create, list, describe, resize and release KMS instances of a running
server, through its KMS API (``CreateKmsInstance`` and ``UpdateKmsInstance`` are Mamori's
extensions; the rest are Alibaba's actions)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mamori.cli.remote import ConfigOpt, DataDirOpt, JsonOpt, Remote, print_json, say, table

app = typer.Typer(
    help="KMS instances: where keys and secrets live, with a QPS spec and quotas.",
    no_args_is_help=True,
)
_remote = Remote()

QpsOpt = Annotated[
    int | None, typer.Option("--qps", help="QPS spec (Alibaba's tiers: 1000, 2000, 4000)")
]
KeyQuotaOpt = Annotated[int | None, typer.Option("--key-quota", help="How many keys it may hold")]
SecretQuotaOpt = Annotated[
    int | None, typer.Option("--secret-quota", help="How many secrets it may hold")
]
_COLUMNS = ("InstanceId", "InstanceName", "Status", "Spec", "Keys", "Secrets", "Default")


@app.callback()
def _options(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    _remote.target(config, data_dir)


def _describe(instance_id: str, default_id: str) -> dict[str, Any]:
    found: dict[str, Any] = _remote.call("GetKmsInstance", KmsInstanceId=instance_id)["KmsInstance"]
    quotas = _remote.call("GetKmsInstanceQuotaInfos", KmsInstanceId=instance_id)
    used = {q["ResourceType"]: q for q in quotas["KmsInstanceQuotaInfos"]}
    return {
        **found,
        "Default": found["InstanceId"] == default_id,
        "Keys": f"{used['key']['UsedQuantity']}/{used['key']['ResourceQuota']}",
        "Secrets": f"{used['secret']['UsedQuantity']}/{used['secret']['ResourceQuota']}",
        "QuotaInfos": quotas["KmsInstanceQuotaInfos"],
    }


def _default_id() -> str:
    return str(_remote.call("GetDefaultKmsInstance")["DefaultKmsInstanceId"])


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Display name")] = "",
    qps: QpsOpt = None,
    key_quota: KeyQuotaOpt = None,
    secret_quota: SecretQuotaOpt = None,
    vpc_quota: Annotated[int | None, typer.Option("--vpc-quota", help="VPCs it may bind")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an instance (defaults: 1000 QPS, 1000 keys, 100 secrets).

    Example: mamori instances create --name payments --qps 2000 --key-quota 500
    """
    made = _remote.call(
        "CreateKmsInstance",
        InstanceName=name or None,
        Spec=qps,
        KeyNum=key_quota,
        SecretNum=secret_quota,
        VpcNum=vpc_quota,
    )
    described = _describe(made["KmsInstanceId"], _default_id())
    if as_json:
        print_json({"KmsInstanceArn": made["KmsInstanceArn"], **described})
    else:
        table("Created", [described], _COLUMNS)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the account's instances, with their use of each quota."""
    found: list[dict[str, Any]] = []
    number = 1
    while True:
        page = _remote.call("ListKmsInstances", PageNumber=number, PageSize=100)
        found += page["KmsInstances"]["KmsInstance"]
        if number * 100 >= page["TotalCount"]:
            break
        number += 1
    default_id = _default_id()
    rows = [_describe(i["KmsInstanceId"], default_id) for i in found]
    if as_json:
        print_json(rows)
    else:
        table("KMS instances", rows, _COLUMNS)


@app.command("describe")
def describe(instance_id: str, as_json: JsonOpt = False) -> None:
    """Show one instance: spec, quotas and their use, VPC settings, the CA chain (JSON)."""
    described = _describe(instance_id, _default_id())
    if as_json:
        print_json(described)
        return
    table(instance_id, [described], _COLUMNS)
    table(
        "Quotas",
        described["QuotaInfos"],
        ("ResourceType", "ResourceQuota", "UsedQuantity"),
    )


@app.command("update")
def update(
    instance_id: str,
    qps: QpsOpt = None,
    key_quota: KeyQuotaOpt = None,
    secret_quota: SecretQuotaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an instance's QPS spec or quotas (a quota below the use removes nothing).

    Example: mamori instances update kst-… --qps 4000
    """
    _remote.call(
        "UpdateKmsInstance",
        KmsInstanceId=instance_id,
        Spec=qps,
        KeyNum=key_quota,
        SecretNum=secret_quota,
    )
    described = _describe(instance_id, _default_id())
    if as_json:
        print_json(described)
    else:
        table("Updated", [described], _COLUMNS)


@app.command("release")
def release(instance_id: str) -> None:
    """Release an instance; refused while it holds keys or secrets, and for the default one."""
    _remote.call("ReleaseKmsInstance", KmsInstanceId=instance_id)
    say(f"released {instance_id}")
