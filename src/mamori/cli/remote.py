"""What every client command of ``mamori`` shares: one connection per run (settings resolved in
``connection``), the output switch (a rich table or ``--json``) and the exit codes.

Exit codes: 0 done; 1 the server refused (its code and message on stderr); 2 bad usage or
connection settings; 3 the server could not be reached; 4 a file failed to decrypt; 5 a file
was encrypted under another key than ``decrypt --key`` requires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mamori.cli.connection import ConnectionProblem, Resolved, Target, resolve
from mamori.client._base import KMS, MamoriError

if TYPE_CHECKING:
    from mamori.client import Client, InstanceClient

console = Console()
errors = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="The server's mamori.toml")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="The server's data dir")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]

REFUSED, USAGE, UNREACHABLE, UNDECRYPTABLE, WRONG_KEY = 1, 2, 3, 4, 5


class Session:
    """The connection of this run: options set by the callbacks, one client made on first use."""

    def __init__(self) -> None:
        self.target = Target()
        self._client: Client | None = None
        self._instance: InstanceClient | None = None
        self._resolved: Resolved | None = None

    def reset(self, target: Target) -> None:
        """Start over with ``target`` (the root callback, once per run)."""
        self.close()
        self.target = target

    def close(self) -> None:
        """Close the client, if one was made."""
        if self._client is not None:
            self._client.close()
        if self._instance is not None:
            self._instance.close()
        self._client, self._instance, self._resolved = None, None, None

    def resolved(self) -> Resolved:
        """The resolved settings; exit 2 with the reason when they are unusable."""
        if self._resolved is None:
            try:
                self._resolved = resolve(self.target)
            except ConnectionProblem as exc:
                fail(str(exc), USAGE)
        return self._resolved

    def client(self) -> Client:
        """The client of this run (the shared gateway, an AccessKey); exit 2 when the run was
        given a client key, which the commands the dedicated gateway cannot serve do not take."""
        if self._client is None:
            if self.resolved().client_key is not None:
                fail(
                    "this command needs an AccessKey: with a client key mamori speaks the "
                    "dedicated gateway, which serves encrypt, decrypt, data-key and secrets get",
                    USAGE,
                )
            self._client = self.resolved().client()
        return self._client

    def instance(self) -> InstanceClient | None:
        """The dedicated gateway's client when the run was given a client key, else None."""
        if self._instance is None and self.resolved().client_key is not None:
            self._instance = self.resolved().instance_client()
        return self._instance

    def kms(self) -> Client | InstanceClient:
        """Whichever gateway's client this run uses."""
        return self.instance() or self.client()

    def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """Call ``action``; a refusal exits 1 with the server's code and message, an unreachable
        server exits 3."""
        with self.guard():
            return self.client().call(action, version, **params)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a refusal or an unreachable server inside the block into its exit code."""
        try:
            yield
        except MamoriError as exc:
            fail(f"{exc.code}: {exc.message}", REFUSED, raw=True)
        except Exception as exc:
            import httpx  # loaded with the client that raised, if one did

            if not isinstance(exc, httpx.TransportError):
                raise
            where = self.resolved()
            fail(
                f"cannot reach {where.protocol}://{where.endpoint}: {exc.__class__.__name__}"
                f"{': ' + str(exc) if str(exc) else ''}",
                UNREACHABLE,
            )


session = Session()


class Remote:
    """A command group's ``--config``/``--data-dir`` (the server-local way of ``mamori iam``,
    ``instances`` and ``aap``); calls go through the run's one ``session``."""

    def target(self, config: Path | None, data_dir: Path | None) -> None:
        """Take the group's options (called from its typer callback)."""
        if config is not None:
            session.target.config = config
        if data_dir is not None:
            session.target.data_dir = data_dir
        session.close()

    def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """See ``Session.call``."""
        return session.call(action, version, **params)


# What a terminal would act on rather than show: C0 controls (ESC starts every escape
# sequence: clear screen, OSC 8 links, OSC 52 clipboard), DEL, C1 controls (U+009B is a CSI
# of its own), and the bidirectional overrides that reorder what is shown.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
# What JSON's own escaping leaves raw (it writes C0 as \\u00XX already).
_RAW_IN_JSON = re.compile(f"[\x7f-\x9f{_BIDI}]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: Any) -> str:
    """``value`` as text with every control character written out (``\\x1b``)."""
    return _INVISIBLE.sub(_escaped, str(value))


def text(value: Any) -> Text:
    """Data from the server (or anyone) as Rich text: never markup, controls made visible."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return Text(visible(value))


def say(message: str) -> None:
    """Print a message on stdout as it is (it may hold names and values from the server)."""
    console.print(text(message), highlight=False)


def fail(message: str, code: int, *, raw: bool = False) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code`` (the message may quote the server,
    so it is shown as text with its control characters made visible)."""
    errors.print(text(message if raw else f"mamori: {message}"), highlight=False)
    raise typer.Exit(code)


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a rich table of ``columns``; every cell and the title are text."""
    out = Table(title=text(title))
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(text(row.get(c, "")) for c in columns))
    console.print(out)


def json_text(value: Any, *, sort_keys: bool = True) -> str:
    """``value`` as indented JSON whose strings hold no raw control character: JSON escapes
    C0 itself; C1 controls and bidirectional overrides are written as ``\\uXXXX`` too (the
    same JSON value, safe on a terminal)."""
    dumped = json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def print_json(value: Any) -> None:
    """Print ``value`` as JSON (for ``--json``: what a script reads)."""
    typer.echo(json_text(value))


def show(value: Any, as_json: bool, title: str, rows: Sequence[dict[str, Any]],
         columns: Sequence[str]) -> None:  # fmt: skip
    """The output switch every command uses: ``value`` as JSON, or ``rows`` as a table."""
    if as_json:
        print_json(value)
    else:
        table(title, rows, columns)


def without_request_id(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer as a script wants it: the server's fields but its RequestId."""
    return {k: v for k, v in answer.items() if k != "RequestId"}


def pages(action: str, wrapper: str, item: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged ``List…`` action."""
    found: list[dict[str, Any]] = []
    number = 1
    while True:
        page = session.call(action, PageNumber=number, PageSize=100, **params)
        found += page.get(wrapper, {}).get(item, [])
        if number * 100 >= int(page.get("TotalCount", 0)):
            return found
        number += 1
