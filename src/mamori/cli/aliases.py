"""``mamori aliases``: names (``alias/…``) that stand for keys, through the KMS API."""

from __future__ import annotations

from typing import Annotated

import typer

from mamori.cli.remote import JsonOpt, pages, say, session, show

app = typer.Typer(help="Aliases: alias/… names for keys.", no_args_is_help=True)

AliasArg = Annotated[str, typer.Argument(help="alias/…")]
KeyArg = Annotated[str, typer.Argument(help="Key id or ARN")]
COLUMNS = ("AliasName", "KeyId", "AliasArn")


@app.command("list")
def list_(
    key: Annotated[str | None, typer.Option("--key", help="Only the aliases of this key")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List aliases (of every key, or of one)."""
    if key is None:
        found = pages("ListAliases", "Aliases", "Alias")
    else:
        found = pages("ListAliasesByKeyId", "Aliases", "Alias", KeyId=key)
    show(found, as_json, "Aliases", found, COLUMNS)


@app.command("create")
def create(alias: AliasArg, key: KeyArg, as_json: JsonOpt = False) -> None:
    """Name a key.

    Example: mamori aliases create alias/payments key-…
    """
    session.call("CreateAlias", AliasName=alias, KeyId=key)
    _done(alias, key, as_json, "created")


@app.command("update")
def update(alias: AliasArg, key: KeyArg, as_json: JsonOpt = False) -> None:
    """Point an alias at another key."""
    session.call("UpdateAlias", AliasName=alias, KeyId=key)
    _done(alias, key, as_json, "updated")


@app.command("delete")
def delete(alias: AliasArg, as_json: JsonOpt = False) -> None:
    """Delete an alias (the key stays)."""
    session.call("DeleteAlias", AliasName=alias)
    _done(alias, None, as_json, "deleted")


def _done(alias: str, key: str | None, as_json: bool, what: str) -> None:
    if as_json:
        show({"AliasName": alias, "KeyId": key, "Result": what}, True, "", [], ())
    else:
        say(f"{what} {alias}" + (f" → {key}" if key else ""))
