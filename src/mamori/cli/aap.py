"""``mamori aap``: application access points of a running server, for an operator.

The commands call the server's KMS API (2016-01-20) with the administrator's AccessKey, as
``mamori iam`` does. ``client-keys create`` writes the ClientKeyContent to a new 0600 file and
prints where it is: the private key never reaches the terminal, and the password is read from
a file or typed (hidden), never taken on the command line.

Example::

    mamori aap network-rules create office --source 10.0.0.0/8
    mamori aap policies create app-keys --instance kst-… --permission key --resource 'key/*' \\
        --rule office
    mamori aap create app --policy app-keys
    mamori aap client-keys create app --out clientKey_app.json
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.cli.remote import ConfigOpt, DataDirOpt, JsonOpt, Remote, json_text, say, table
from mamori.client._base import KMS

app = typer.Typer(help="Manage application access points (AAPs) on a running server.")
rules = typer.Typer(help="Network rules: the addresses client-key requests may come from.")
policies = typer.Typer(help="AAP policies: templates, keys and secrets, instance, rules.")
client_keys = typer.Typer(help="Client keys of AAPs.")
app.add_typer(rules, name="network-rules")
app.add_typer(policies, name="policies")
app.add_typer(client_keys, name="client-keys")

_remote = Remote()
TEMPLATES = {
    "key": "RbacPermission/Template/CryptoServiceKeyUser",
    "secret": "RbacPermission/Template/CryptoServiceSecretUser",
}


@app.callback()
def _options(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    _remote.target(config, data_dir)


def _call(action: str, **params: Any) -> dict[str, Any]:
    return _remote.call(action, KMS, **params)


def _show(answer: dict[str, Any], as_json: bool, title: str, columns: Sequence[str]) -> None:
    """One object, as JSON or a one-row table."""
    _rows(answer, [answer], as_json, title, columns)


def _rows(
    answer: Any, rows: Sequence[dict[str, Any]], as_json: bool, title: str, columns: Sequence[str]
) -> None:
    if as_json:
        body = (
            {k: v for k, v in answer.items() if k != "RequestId"}
            if isinstance(answer, dict)
            else answer
        )
        typer.echo(json_text(body, sort_keys=False))
        return
    table(title, rows, columns)


def _all(action: str, wrapper: str, item: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    number = 1
    while True:
        page = _call(action, PageNumber=number, PageSize=100)
        found += page.get(wrapper, {}).get(item, [])
        if number * 100 >= int(page.get("TotalCount", 0)):
            return found
        number += 1


def _list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


# -- network rules -------------------------------------------------------------------------------

SourcesOpt = Annotated[list[str], typer.Option("--source", help="An IP or CIDR block (repeat)")]
RULE_COLUMNS = ("Name", "Type", "SourcePrivateIp", "Description")


@rules.command("create")
def rules_create(
    name: str, source: SourcesOpt, description: str = "", as_json: JsonOpt = False
) -> None:
    """Create a network rule."""
    answer = _call(
        "CreateNetworkRule",
        Name=name,
        Type="Private",
        SourcePrivateIp=_list(source),
        Description=description or None,
    )
    _show(answer, as_json, "Created", RULE_COLUMNS)


@rules.command("list")
def rules_list(as_json: JsonOpt = False) -> None:
    """List network rules."""
    found = _all("ListNetworkRules", "NetworkRules", "NetworkRule")
    _rows(found, found, as_json, "Network rules", ("Name", "Type"))


@rules.command("show")
def rules_show(name: str, as_json: JsonOpt = False) -> None:
    """Show a network rule."""
    answer = _call("DescribeNetworkRule", Name=name)
    _show({"Name": name, **answer}, as_json, name, RULE_COLUMNS)


@rules.command("update")
def rules_update(
    name: str,
    source: Annotated[list[str] | None, typer.Option("--source", help="Replace (repeat)")] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Replace a rule's sources and/or description."""
    _call(
        "UpdateNetworkRule",
        Name=name,
        SourcePrivateIp=_list(source) if source else None,
        Description=description,
    )
    say(f"updated network rule {name}")


@rules.command("delete")
def rules_delete(name: str) -> None:
    """Delete a network rule (no policy may name it)."""
    _call("DeleteNetworkRule", Name=name)
    say(f"deleted network rule {name}")


# -- policies ------------------------------------------------------------------------------------

PermissionOpt = Annotated[
    list[str], typer.Option("--permission", help="key and/or secret (the RBAC templates)")
]
ResourceOpt = Annotated[
    list[str], typer.Option("--resource", help="key/*, key/<id>, alias/<name>, secret/*, …")
]
RuleOpt = Annotated[list[str], typer.Option("--rule", help="A network rule name (repeat)")]
POLICY_COLUMNS = ("Name", "KmsInstance", "Permissions", "Resources", "AccessControlRules")


def _templates(names: Sequence[str]) -> str:
    unknown = [n for n in names if n not in TEMPLATES]
    if unknown:
        raise typer.BadParameter(f"--permission takes key or secret, not {unknown[0]}")
    return _list([TEMPLATES[n] for n in names])


@policies.command("create")
def policies_create(
    name: str,
    instance: Annotated[str, typer.Option("--instance", help="kst-… or shared")],
    permission: PermissionOpt,
    resource: ResourceOpt,
    rule: RuleOpt,
    description: str = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an AAP policy."""
    answer = _call(
        "CreatePolicy",
        Name=name,
        KmsInstance=instance,
        Permissions=_templates(permission),
        Resources=_list(resource),
        AccessControlRules=json.dumps({"NetworkRules": list(rule)}),
        Description=description or None,
    )
    _show(answer, as_json, "Created", POLICY_COLUMNS)


@policies.command("list")
def policies_list(as_json: JsonOpt = False) -> None:
    """List AAP policies."""
    found = _all("ListPolicies", "Policies", "Policy")
    _rows(found, found, as_json, "AAP policies", ("Name",))


@policies.command("show")
def policies_show(name: str, as_json: JsonOpt = False) -> None:
    """Show an AAP policy."""
    _show(_call("DescribePolicy", Name=name), as_json, name, POLICY_COLUMNS)


@policies.command("update")
def policies_update(
    name: str,
    permission: Annotated[list[str] | None, typer.Option("--permission")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule")] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Replace what is given (the instance never changes)."""
    _call(
        "UpdatePolicy",
        Name=name,
        Permissions=_templates(permission) if permission else None,
        Resources=_list(resource) if resource else None,
        AccessControlRules=json.dumps({"NetworkRules": list(rule)}) if rule else None,
        Description=description,
    )
    say(f"updated policy {name}")


@policies.command("delete")
def policies_delete(name: str) -> None:
    """Delete an AAP policy (no AAP may name it)."""
    _call("DeletePolicy", Name=name)
    say(f"deleted policy {name}")


# -- access points -------------------------------------------------------------------------------

PolicyOpt = Annotated[list[str], typer.Option("--policy", help="A policy name (up to 3)")]
AAP_COLUMNS = ("Name", "AuthenticationMethod", "Policies", "Description")


@app.command("create")
def aap_create(
    name: str, policy: PolicyOpt, description: str = "", as_json: JsonOpt = False
) -> None:
    """Create an AAP (authentication by client key)."""
    answer = _call(
        "CreateApplicationAccessPoint",
        Name=name,
        AuthenticationMethod="ClientKey",
        Policies=_list(policy),
        Description=description or None,
    )
    _show(answer, as_json, "Created", AAP_COLUMNS)


@app.command("list")
def aap_list(as_json: JsonOpt = False) -> None:
    """List AAPs."""
    found = _all("ListApplicationAccessPoints", "ApplicationAccessPoints", "ApplicationAccessPoint")
    _rows(found, found, as_json, "Application access points", ("Name", "AuthenticationMethod"))


@app.command("show")
def aap_show(name: str, as_json: JsonOpt = False) -> None:
    """Show an AAP."""
    _show(_call("DescribeApplicationAccessPoint", Name=name), as_json, name, AAP_COLUMNS)


@app.command("update")
def aap_update(
    name: str,
    policy: Annotated[list[str] | None, typer.Option("--policy")] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Replace an AAP's policies and/or description."""
    _call(
        "UpdateApplicationAccessPoint",
        Name=name,
        Policies=_list(policy) if policy else None,
        Description=description,
    )
    say(f"updated AAP {name}")


@app.command("delete")
def aap_delete(name: str) -> None:
    """Delete an AAP and its client keys (applications using them stop at once)."""
    _call("DeleteApplicationAccessPoint", Name=name)
    say(f"deleted AAP {name} and its client keys")


# -- client keys ---------------------------------------------------------------------------------

KEY_COLUMNS = ("ClientKeyId", "AapName", "NotBefore", "NotAfter", "CreateTime")


def _password(path: Path | None) -> str:
    if path is not None:
        return path.read_text("utf-8").rstrip("\r\n")
    value: str = typer.prompt(
        "Password for the client key (8-64; two of digits, letters, ~!@#$%^&*?_-)",
        hide_input=True,
        confirmation_prompt=True,
    )
    return value


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` 0600, refusing to replace a file that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


@client_keys.command("create")
def keys_create(
    aap: str,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it (default clientKey_<id>.json)")
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="Read the password from this file")
    ] = None,
    not_before: Annotated[str | None, typer.Option(help="YYYY-MM-DDThh:mm:ssZ")] = None,
    not_after: Annotated[str | None, typer.Option(help="YYYY-MM-DDThh:mm:ssZ")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a client key; its ClientKeyContent goes to a new 0600 file, never the terminal."""
    if out is not None and out.exists():
        raise typer.BadParameter(f"{out} exists; the client key would be lost")
    answer = _call(
        "CreateClientKey",
        AapName=aap,
        Password=_password(password_file),
        NotBefore=not_before,
        NotAfter=not_after,
    )
    key_id = answer["ClientKeyId"]
    path = out or Path(f"clientKey_{key_id}.json")
    content = json.dumps({"KeyId": key_id, "PrivateKeyData": answer["PrivateKeyData"]})
    _write_private(path, content)
    shown = {k: answer.get(k) for k in ("ClientKeyId", "KeyAlgorithm", "NotBefore", "NotAfter")}
    if as_json:
        typer.echo(json_text({**shown, "ClientKeyFile": str(path)}, sort_keys=False))
        return
    say(f"client key {key_id} for AAP {aap}, valid {shown['NotBefore']} to {shown['NotAfter']}")
    say(f"ClientKeyContent written to {path} (mode 0600). It is the only copy.")
    say(
        "The password is not stored anywhere: give it to the application apart from the file "
        "(the SDKs read it as ClientKeyPassword, from an environment variable or a "
        f"clientKey_{key_id}_Password.txt file of its own)."
    )


@client_keys.command("list")
def keys_list(
    aap: Annotated[str | None, typer.Option("--aap", help="Only this AAP's")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List client keys (their public halves)."""
    answer = _call("ListClientKeys", AapName=aap)
    found = answer.get("ClientKeys", [])
    _rows(found, found, as_json, "Client keys", KEY_COLUMNS)


@client_keys.command("show")
def keys_show(client_key_id: str, as_json: JsonOpt = False) -> None:
    """Show a client key: validity and certificate."""
    answer = _call("GetClientKey", ClientKeyId=client_key_id)
    _show(answer, as_json, client_key_id, (*KEY_COLUMNS, "KeyAlgorithm"))


@client_keys.command("delete")
def keys_delete(client_key_id: str) -> None:
    """Delete a client key: it signs nothing from the next request on."""
    _call("DeleteClientKey", ClientKeyId=client_key_id)
    say(f"deleted client key {client_key_id}")
