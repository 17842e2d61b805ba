"""``mamori audit``: verify, read and export the audit chains of a data dir (docs/audit.md).

These read the files under ``<data-dir>/audit/`` directly, as an operator or an auditor on the
host does (no server needs to run, no credentials are involved). ``verify`` also opens the store
and the root of trust as the server does, for the audit key the MACs are checked with. Exit
codes: 0 done; 2 a bad option; 8 ``verify`` found a break (the code ``mamori server`` uses for an
audit log it cannot open, docs/operations.md); 3, 4, 5 ``verify`` could not get the audit key
(the root of trust, the store, the store's schema: the server's start-up codes).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from mamori.audit.chain import Mac
    from mamori.audit.key import AuditKey
    from mamori.audit.query import Query
    from mamori.config import Settings

app = typer.Typer(help="Verify, search and export the audit log of a data dir (docs/audit.md).")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The server's data dir [MAMORI_DATA_DIR; ./mamori-data]"),
]
Config = Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON (one object per line) for scripts")]
_BROKEN = 8


def _settings(config: Path | None, data_dir: Path | None, store_url: str | None = None) -> Settings:
    from mamori.config import ConfigError, load_settings

    try:
        return load_settings(config, {"data_dir": data_dir, "store_url": store_url})
    except ConfigError as exc:
        typer.echo(f"mamori: {exc}", err=True)
        raise typer.Exit(2) from None


def _audit_dir(config: Path | None, data_dir: Path | None) -> Path:
    return _settings(config, data_dir).audit_dir


StoreUrl = Annotated[
    str | None,
    typer.Option("--store-url", help="The server's store: sqlite:///… or postgresql://…"),
]
Unkeyed = Annotated[
    bool,
    typer.Option(
        "--unkeyed",
        help="Check the hash chain only, without the audit key (no access to the root of "
        "trust): a rewrite by someone who can write the files is then not seen",
    ),
]
ExpectHead = Annotated[
    list[str] | None,
    typer.Option(
        "--expect-head",
        help="CHAIN:SEQ:HASH from an earlier `mamori audit head`, kept out of the node's reach: "
        "that chain must hold that record",
    ),
]


@app.command()
def verify(
    config: Config = None,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
    unkeyed: Unkeyed = False,
    expect_head: ExpectHead = None,
    as_json: AsJson = False,
) -> None:
    """Check every link and every MAC of every chain; the first break of each with its file
    and line. Opens the store and the root of trust as the server does, for the audit key.
    Exit 8 when any chain is broken; 3, 4 or 5 (as for the server's start) when the audit key
    cannot be had. Example: mamori audit verify --data-dir /var/lib/mamori"""
    from mamori.audit import Break, Report, chains
    from mamori.audit import verify as walk

    settings = _settings(config, data_dir, store_url)
    expected = _expected_heads(expect_head or [])
    key, keyed_since = (None, None) if unkeyed else _audit_key(settings)
    audit_dir = settings.audit_dir
    found = chains(audit_dir)
    reports = [
        walk(chain, key, keyed_since=keyed_since, expect=expected.get(chain.name))
        for chain in found
    ]
    for name in sorted(set(expected) - {chain.name for chain in found}):
        # A whole chain removed: its expected head is the only trace of it.
        gone = Break(name, audit_dir / name, 1, "the chain is missing, but --expect-head names it")
        reports.append(Report(name, 0, 0, "", (), gone, key is not None, 0))
    if unkeyed:
        typer.echo(
            "mamori: audit verify --unkeyed: the hash chain only, no MAC checked: a rewrite by "
            "someone who can write the audit files would not be seen (docs/audit.md)",
            err=True,
        )
    for report in reports:
        if report.unkeyed:
            typer.echo(
                f"mamori: audit verify: {report.chain}: records 1–{report.unkeyed} carry no MAC "
                "(written before the audit key existed): checked by hash only",
                err=True,
            )
    if as_json:
        for report in reports:
            row = {
                "chain": report.chain,
                "records": report.records,
                "segments": report.segments,
                "keyed": report.keyed,
                "unkeyed_records": report.unkeyed,
                "sealed_torn_records": list(report.sealed),
                "ok": report.broken is None,
                "break": None
                if report.broken is None
                else {
                    "file": str(report.broken.file),
                    "line": report.broken.line,
                    "reason": report.broken.reason,
                },
            }
            typer.echo(json.dumps(row))
    elif not reports:
        typer.echo(f"no audit chain in {audit_dir}")
    for report in reports if not as_json else ():
        if report.broken is None:
            checked = "MACs checked" if report.keyed else "hash chain only"
            sealed = f"; {len(report.sealed)} torn record(s) sealed" if report.sealed else ""
            typer.echo(
                f"{report.chain}: OK, {report.records} records in {report.segments} "
                f"segment(s), {checked}{sealed}"
            )
        else:
            typer.echo(f"{report.chain}: BROKEN at {report.broken}")
    if any(report.broken is not None for report in reports):
        raise typer.Exit(_BROKEN)


@app.command()
def head(config: Config = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Each chain's last seq and hash, as CHAIN:SEQ:HASH. Copy them somewhere the node cannot
    write; `verify --expect-head` then finds records cut from the end since. Reads only the end
    of each chain: run verify too. Example: mamori audit head >> /mnt/elsewhere/heads.txt"""
    from mamori.audit import chains
    from mamori.audit.chain import read_tail

    audit_dir = _audit_dir(config, data_dir)
    for chain in chains(audit_dir):
        try:
            tail = read_tail(chain)
        except ValueError as exc:
            typer.echo(f"mamori: audit head: {exc}", err=True)
            raise typer.Exit(_BROKEN) from None
        if tail.seq == 0:
            continue  # nothing written yet: no record to anchor
        if as_json:
            typer.echo(json.dumps({"chain": chain.name, "seq": tail.seq, "hash": tail.last_hash}))
        else:
            typer.echo(f"{chain.name}:{tail.seq}:{tail.last_hash}")


_HEAD = re.compile(r"(?P<chain>[^:/]+):(?P<seq>[0-9]+):(?P<hash>[0-9a-f]{64})")


def _expected_heads(given: list[str]) -> dict[str, dict[int, str]]:
    """``--expect-head`` values by chain and seq; exit 2 for a malformed one."""
    heads: dict[str, dict[int, str]] = {}
    for text in given:
        match = _HEAD.fullmatch(text.strip())
        if match is None or int(match["seq"]) < 1:
            typer.echo(
                f"mamori: --expect-head takes CHAIN:SEQ:HASH (as `mamori audit head` prints), "
                f"not {text!r}",
                err=True,
            )
            raise typer.Exit(2)
        heads.setdefault(match["chain"], {})[int(match["seq"])] = match["hash"]
    return heads


def _audit_key(settings: Settings) -> tuple[Mac, str]:
    """The deployment's audit key, opened as the server opens it (the store, then the root of
    trust, then the keyring), and from when records carry a MAC. Nothing in the store or the
    data dir is created or changed. Exits with the server's start-up code when it cannot be
    had (docs/operations.md), naming ``--unkeyed``."""
    from mamori.audit.chain import Mac
    from mamori.audit.key import NoAuditKey
    from mamori.startup import ROOT_OF_TRUST, explain

    try:
        key = _read_key(settings)
    except NoAuditKey as exc:
        failure_text, code = str(exc), ROOT_OF_TRUST
    except Exception as exc:
        failure = explain(exc)
        if failure is None:
            raise
        failure_text, code = str(failure), failure.exit_code
    else:
        return Mac(key.material.reveal()), key.keyed_since()
    typer.echo(
        f"mamori: audit verify: cannot get the audit key: {failure_text}. Without it "
        "`--unkeyed` checks the hash chain only.",
        err=True,
    )
    raise typer.Exit(code)


def _read_key(settings: Settings) -> AuditKey:
    from sqlalchemy import make_url

    from mamori.app import keyring_rows, open_keyring, open_token
    from mamori.audit.key import NoAuditKey, has_audit_key_table, read_audit_key
    from mamori.store.database import Database

    url = settings.database_url
    if url.startswith("sqlite"):
        path = make_url(url).database
        if not path or not Path(path).is_file():
            raise NoAuditKey(f"no store at {path} (--data-dir, --store-url)")
    db = Database(url)
    token = None
    try:
        if not has_audit_key_table(db) or not keyring_rows(db):
            raise NoAuditKey(
                "the store holds no audit key: no server of this version has started on it"
            )
        token = open_token(settings)
        key = read_audit_key(db, open_keyring(db, settings, token))
        if key is None:
            raise NoAuditKey(
                "the store holds no audit key: no server of this version has started on it"
            )
        return key
    finally:
        if token is not None:
            token.close()
        db.close()


def _query(
    key: str | None,
    secret: str | None,
    principal: str | None,
    action: str | None,
    result: str | None,
    since: str | None,
    until: str | None,
) -> Query:
    from mamori.audit.query import Query, time_bound

    try:
        return Query(
            key=key,
            secret=secret,
            principal=principal,
            action=action,
            result=result,
            since=time_bound(since) if since else None,
            until=time_bound(until) if until else None,
        )
    except ValueError:
        typer.echo("mamori: --since and --until take ISO 8601 times (2026-12-04T08:00Z)", err=True)
        raise typer.Exit(2) from None


Key = Annotated[str | None, typer.Option("--key", help="Key id")]
Secret = Annotated[str | None, typer.Option("--secret", help="Secret name")]
Who = Annotated[
    str | None,
    typer.Option("--principal", help="Principal ARN, AccessKey id or client key id"),
]
Action = Annotated[str | None, typer.Option("--action", help="Action name, e.g. Decrypt")]
Outcome = Annotated[
    str | None,
    typer.Option("--result", help="Success or an error code, e.g. Forbidden.NoPermission"),
]
Since = Annotated[str | None, typer.Option("--since", help="From this UTC time (ISO 8601)")]
Until = Annotated[str | None, typer.Option("--until", help="Before this UTC time (ISO 8601)")]


@app.command()
def search(
    key: Key = None,
    secret: Secret = None,
    principal: Who = None,
    action: Action = None,
    result: Outcome = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (0: all)")] = 100,
    config: Config = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Request records matching every criterion, oldest first. Example: who decrypted with a
    key last week: mamori audit search --key key-… --action Decrypt --since 2026-11-27"""
    from mamori.audit.query import search as find

    query = _query(key, secret, principal, action, result, since, until)
    found = find(_audit_dir(config, data_dir), query)
    rows = []
    with _unreadable("search"):
        for record in found:
            rows.append(record)
            if limit and len(rows) >= limit:
                break
    _show(rows, as_json)


@app.command()
def tail(
    count: Annotated[int, typer.Option("-n", "--count", help="How many records")] = 20,
    key: Key = None,
    secret: Secret = None,
    principal: Who = None,
    action: Action = None,
    result: Outcome = None,
    config: Config = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """The latest request records of every chain of the node, oldest first."""
    from mamori.audit.query import tail as last

    query = _query(key, secret, principal, action, result, None, None)
    with _unreadable("tail"):
        rows = last(_audit_dir(config, data_dir), max(0, count), query)
    _show(rows, as_json)


@app.command()
def export(
    since: Since = None,
    until: Until = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [standard output]")
    ] = None,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Request records of a time range as JSON Lines, each with its chain, seq and prev (for a
    log system or an auditor). Example: mamori audit export --since 2026-12-01 -o dec.jsonl"""
    from mamori.audit.query import search as find

    query = _query(None, None, None, None, None, since, until)
    records = find(_audit_dir(config, data_dir), query)
    with _unreadable("export"):
        if output is None:
            _write(sys.stdout, records)
            return
        with output.open("x", encoding="utf-8") as handle:
            count = _write(handle, records)
    typer.echo(f"Wrote {count} records to {output}", err=True)


@contextmanager
def _unreadable(command: str) -> Iterator[None]:
    """A chain directory or segment that is a link or a special file (``chain.plain``) ends
    ``command`` with exit 8, naming it: never followed, never read, never silently left out."""
    from mamori.audit.chain import NotPlain

    try:
        yield
    except NotPlain as exc:
        typer.echo(f"mamori: audit {command}: {exc}", err=True)
        raise typer.Exit(_BROKEN) from None


def _line(record: dict[str, Any]) -> str:
    """A record as one line of JSON, non-ASCII escaped as on disk: a raw U+2028, U+2029 or
    U+0085 is a line break to many line-based readers, and would split the record."""
    return json.dumps(record, ensure_ascii=True)


def _write(handle: Any, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    for record in records:
        handle.write(_line(record) + "\n")
        count += 1
    return count


def _show(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(_line(row))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Records quote what callers sent (a refused request's names too): each cell is text with
    # its controls written out, never Rich markup or emoji codes (``:ram:``).
    from mamori.audit.query import shown_result
    from mamori.cli.remote import text

    table = Table("time", "chain", "action", "principal", "from", "result", "resources")
    for row in rows:
        table.add_row(
            text(row.get("time", "")),
            text(row.get("chain", "")),
            text(row.get("action", "")),
            text(row.get("principal") or row.get("access_key_id") or ""),
            text(row.get("source_ip", "")),
            text(shown_result(row)),
            Text("\n").join(text(one) for one in row.get("resources") or []),
        )
    Console(width=200).print(table)
