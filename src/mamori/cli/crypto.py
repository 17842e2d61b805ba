"""``mamori encrypt``, ``mamori decrypt`` and ``mamori data-key``: envelope encryption of files
of any size in constant memory (format: ``mamori.crypto.envelope_stream``, docs/cli-guide.md), and
data keys for an application's own envelope encryption.

A file is encrypted into a temporary file beside its destination (mode 0600) that takes the
destination's name only once it is complete; a decrypted file likewise appears only once every
chunk is authenticated and the end of the file is proven, so a failure leaves no output behind
(on standard output, where this cannot be done, a failure still ends with exit code 4).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mamori import envelope
from mamori.cli.remote import (
    UNDECRYPTABLE,
    USAGE,
    WRONG_KEY,
    JsonOpt,
    errors,
    fail,
    session,
    show,
    text,
)
from mamori.client import _instance_shapes as shapes
from mamori.crypto.envelope_stream import DEFAULT_CHUNK, MAX_CHUNK, MIN_CHUNK
from mamori.wire import instance as api

if TYPE_CHECKING:
    from mamori.client import InstanceClient

ContextOpt = Annotated[
    list[str] | None,
    typer.Option("--context", help="EncryptionContext entry KEY=VALUE (repeat for more)"),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Where to write ('-': standard output)")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace --out if it exists")]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar [on when stderr is a terminal]"),
]
SUFFIX = ".mamori"


def parse_context(entries: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` entries as an EncryptionContext; exit 2 for a malformed or repeated one."""
    context: dict[str, str] = {}
    for entry in entries or []:
        name, sep, value = entry.partition("=")
        if not sep or not name:
            fail(f"--context takes KEY=VALUE, not {entry!r}", USAGE)
        if name in context:
            fail(f"--context names {name!r} twice", USAGE)
        context[name] = value
    return context


def encrypt(
    file: Annotated[Path, typer.Option("--file", "-f", help="File to encrypt ('-': stdin)")],
    key: Annotated[str, typer.Option("--key", "-k", help="Key id, alias/… or ARN")],
    out: OutOpt = None,
    context: ContextOpt = None,
    chunk_size: Annotated[
        int,
        typer.Option("--chunk-size", help=f"Plaintext bytes per chunk, {MIN_CHUNK} … {MAX_CHUNK}"),
    ] = DEFAULT_CHUNK,
    progress: ProgressOpt = None,
    force: ForceOpt = False,
) -> None:
    """Encrypt a file of any size under a new data key of KEY (envelope encryption, streamed:
    memory stays constant). Writes FILE.mamori unless --out says otherwise.

    Example: mamori encrypt --file backup.tar --key alias/backups --context host=db1
    """
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        fail(f"--chunk-size must be {MIN_CHUNK} … {MAX_CHUNK}", USAGE)
    wanted = parse_context(context)
    target = out if out is not None else _default_out(file, encrypting=True)
    # The guard sits inside the sink: a refusal still removes the unfinished output.
    with (
        _source(file) as source,
        _sink(target, force) as sink,
        _bar(source, progress) as advance,
        session.guard(),
    ):
        try:
            envelope.encrypt_stream(session.kms(), key, source, sink, wanted,
                                    chunk_size=chunk_size, progress=advance)  # fmt: skip
        except ValueError as exc:  # the context's canonical JSON is too long
            fail(str(exc), USAGE)
    if str(target) != "-":
        errors.print(text(f"encrypted {file} → {target}"), highlight=False)


def decrypt(
    file: Annotated[Path, typer.Option("--file", "-f", help="File to decrypt ('-': stdin)")],
    out: OutOpt = None,
    context: ContextOpt = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", "-k", help="Refuse the file unless this key (id, alias/… or ARN) opens it"
        ),
    ] = None,
    progress: ProgressOpt = None,
    force: ForceOpt = False,
) -> None:
    """Decrypt a file made by mamori encrypt; --context must repeat the one it was made with.
    Writes FILE without .mamori unless --out says otherwise, and says which key opened it.

    Example: mamori decrypt --file backup.tar.mamori --key alias/backups --context host=db1
    """
    wanted = parse_context(context)
    target = out if out is not None else _default_out(file, encrypting=False)
    required = None
    if key is not None and session.instance() is not None:
        # The dedicated gateway has no DescribeKey to resolve an alias or an ARN with.
        if key.startswith(("alias/", "acs:")):
            fail("with a client key, --key takes a key id (the gateway cannot resolve it)", USAGE)
        required = key
    elif key is not None:
        required = str(session.call("DescribeKey", KeyId=key)["KeyMetadata"]["KeyId"])
    with (
        _source(file) as source,
        _sink(target, force) as sink,
        _bar(source, progress) as advance,
        session.guard(),
    ):
        try:
            opened_by = envelope.decrypt_stream(
                session.kms(), source, sink, wanted, progress=advance, required_key_id=required
            )
        except envelope.WrongKey as exc:
            fail(
                f"{file} was encrypted under {exc.key_id}, not under --key {key} ({required}); "
                "nothing was written",
                WRONG_KEY,
            )
        except envelope.MalformedEnvelope as exc:
            fail(f"{file} is not a file mamori encrypt made ({exc})", UNDECRYPTABLE)
        except envelope.DecryptionFailed:
            fail(
                f"cannot decrypt {file}: it was changed, cut short, reordered or extended, "
                "or --context differs from the context it was encrypted with",
                UNDECRYPTABLE,
            )
    where = f" → {target}" if str(target) != "-" else ""
    errors.print(text(f"decrypted {file}{where} with key {opened_by}"), highlight=False)


def data_key(
    key: Annotated[str, typer.Argument(help="Key id, alias/… or ARN")],
    context: ContextOpt = None,
    number_of_bytes: Annotated[
        int, typer.Option("--bytes", help="Data key length, 1 … 1024 bytes")
    ] = 32,
    show_plaintext: Annotated[
        bool, typer.Option("--show-plaintext", help="Also return the plaintext data key")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a data key under KEY: its ciphertext (and, when asked, its plaintext, base64).

    Example: mamori data-key alias/app --show-plaintext --json
    """
    wanted = parse_context(context)
    instance = session.instance()
    if instance is not None:
        made = _instance_data_key(instance, key, number_of_bytes, wanted)
        if not show_plaintext:
            del made["Plaintext"]
    else:
        made = session.call(
            "GenerateDataKey" if show_plaintext else "GenerateDataKeyWithoutPlaintext",
            KeyId=key,
            NumberOfBytes=number_of_bytes,
            EncryptionContext=json.dumps(wanted) if wanted else None,
        )
    columns = ("KeyId", "KeyVersionId", "CiphertextBlob") + (
        ("Plaintext",) if show_plaintext else ()
    )
    show(made, as_json, "Data key", [made], columns)


def _instance_data_key(
    kms: InstanceClient, key: str, size: int, context: dict[str, str]
) -> dict[str, Any]:
    """AdvanceGenerateDataKey through the dedicated gateway, answered as the shared gateway's
    GenerateDataKey (its CiphertextBlob opens there too)."""
    try:
        aad = shapes.aad_of(context)
    except ValueError as exc:
        fail(f"--context: {exc}", USAGE)
    with session.guard():
        made = kms.call(api.ADVANCE_GENERATE_DATA_KEY, KeyId=key, NumberOfBytes=size, Aad=aad)
    return {
        "KeyId": made.KeyId,
        "KeyVersionId": made.KeyVersionId,
        "CiphertextBlob": base64.b64encode(shapes.shared_blob(made.CiphertextBlob)).decode(),
        "Plaintext": base64.b64encode(made.Plaintext).decode(),
        "RequestId": made.RequestId,
    }


def _default_out(file: Path, *, encrypting: bool) -> Path:
    if str(file) == "-":
        return Path("-")
    if encrypting:
        return file.with_name(file.name + SUFFIX)
    if file.name.endswith(SUFFIX) and len(file.name) > len(SUFFIX):
        return file.with_name(file.name[: -len(SUFFIX)])
    fail(f"{file} does not end in {SUFFIX}: say where to write with --out", USAGE)


@contextmanager
def _source(file: Path) -> Iterator[BinaryIO]:
    if str(file) == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = file.open("rb")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", USAGE)
    with handle:
        yield handle


@contextmanager
def _sink(target: Path, force: bool) -> Iterator[BinaryIO]:
    """Standard output, or a 0600 temporary file renamed to ``target`` when the block ends
    without an error (and removed when it does not)."""
    if str(target) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if target.exists() and not force:
        fail(f"{target} exists (--force replaces it)", USAGE)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        fail(f"cannot write in {directory}: {exc.strerror}", USAGE)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _bar(source: BinaryIO, wanted: bool | None) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr (by default only when it is a terminal): a callback to advance."""
    if not (errors.is_terminal if wanted is None else wanted):
        yield None
        return
    try:
        total: int | None = os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        total = None
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=errors,
    )
    with bar:
        task = bar.add_task("mamori", total=total)
        yield lambda done: bar.advance(task, done)
