"""``mamori audit``: verify, read and export the audit chains of a data dir (docs/audit.md).

These read the files under ``<data-dir>/audit/`` directly, as an operator or an auditor on the
host does (no server needs to run, no credentials are involved). Exit codes: 0 done; 2 a bad
option; 8 ``verify`` found a break (the code ``mamori server`` uses for an audit log it cannot
open, docs/operations.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from mamori.audit.query import Query

app = typer.Typer(help="Verify, search and export the audit log of a data dir (docs/audit.md).")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The server's data dir [MAMORI_DATA_DIR; ./mamori-data]"),
]
Config = Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON (one object per line) for scripts")]
_BROKEN = 8


def _audit_dir(config: Path | None, data_dir: Path | None) -> Path:
    from mamori.config import ConfigError, load_settings

    try:
        return load_settings(config, {"data_dir": data_dir}).audit_dir
    except ConfigError as exc:
        typer.echo(f"mamori: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def verify(config: Config = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Check every link of every chain; the first break of each with its file and line.
    Exit 8 when any chain is broken. Example: mamori audit verify --data-dir /var/lib/mamori"""
    from mamori.audit import chains
    from mamori.audit import verify as walk

    audit_dir = _audit_dir(config, data_dir)
    reports = [walk(chain) for chain in chains(audit_dir)]
    if as_json:
        for report in reports:
            row = {
                "chain": report.chain,
                "records": report.records,
                "segments": report.segments,
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
            sealed = f"; {len(report.sealed)} torn record(s) sealed" if report.sealed else ""
            typer.echo(
                f"{report.chain}: OK, {report.records} records in {report.segments} "
                f"segment(s){sealed}"
            )
        else:
            typer.echo(f"{report.chain}: BROKEN at {report.broken}")
    if any(report.broken is not None for report in reports):
        raise typer.Exit(_BROKEN)


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
    _show(last(_audit_dir(config, data_dir), max(0, count), query), as_json)


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
    if output is None:
        _write(sys.stdout, records)
        return
    with output.open("x", encoding="utf-8") as handle:
        count = _write(handle, records)
    typer.echo(f"Wrote {count} records to {output}", err=True)


def _write(handle: Any, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    for record in records:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _show(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
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
