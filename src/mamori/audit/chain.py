"""The audit chain on disk: where its segments are, how a record is hashed, and how a chain is
walked and verified (docs/audit.md).

Layout::

    <data-dir>/audit/<chain>/            one chain per writer process (``<node>-w<N>``)
        .lock                            flock'ed by the one process that writes the chain
        00000001.jsonl, 00000002.jsonl…  segments, appended to, rotated by size, never rewritten

A segment is JSON Lines, one record per line (UTF-8, ``\\n``-terminated). Every record is an
object whose first member is ``seq`` (1, 2, 3… along the whole chain) and whose last member is
``prev``: the SHA-256 (hex) of the exact bytes of the line before it, without its ``\\n``; the
first record of a chain has 64 zeros. Every segment opens with a ``segment`` record, so each
segment starts with the hash that ended the one before.

Keyed: after ``prev`` comes ``mac``, the HMAC-SHA256 (hex) under the deployment's audit key
(``key.py``) of the line's exact bytes before ``,"mac":`` — everything but the MAC itself and the
closing brace. Exact bytes rather than a re-serialisation: the verifier needs no canonical form,
and the MAC binds ``seq``, ``prev`` (so the record before it, MAC included) and every member. The
next record's ``prev`` hashes the whole line, MAC included. Records written before keying have no
``mac``; ``verify`` accepts them only as the start of a chain, dated before the key was made.

A process that died mid-write leaves a torn last line. The next writer does not drop it: it
ends the line and appends a ``torn`` record carrying the torn bytes' SHA-256 and length, whose
``prev`` is the hash of the last whole record. The verifier accepts a torn line only in that
shape, and says so.
"""

from __future__ import annotations

import _hashlib
import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

GENESIS: Final = "0" * 64
LOCK_NAME: Final = ".lock"
_SEGMENT: Final = re.compile(r"(\d{8})\.jsonl")
MAC_MEMBER: Final = b',"mac":"'
# The MAC member and the closing brace that end a keyed line: ,"mac":"<64 hex>"}
_MAC_TAIL: Final = len(MAC_MEMBER) + 64 + 2
# Every record's ``time``, as the writer makes it (log.py, record.py): UTC, microseconds.
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# The record types a writer makes: a segment's header, a torn line's seal, and a request's
# intent and outcome (record.py).
SEGMENT, TORN = "segment", "torn"
_TYPES: Final = frozenset((SEGMENT, TORN, "request", "intent"))


def digest(line: bytes) -> str:
    """The hash the next record's ``prev`` carries: SHA-256 of the line without its newline."""
    return hashlib.sha256(line).hexdigest()


class Mac:
    """HMAC-SHA256 under the audit key, the key's pads computed once: a copy per record costs
    ~2 µs where ``hmac.digest`` costs ~3 µs (OpenSSL 3, measured on a 600-byte record). The
    copy is of OpenSSL's HMAC object itself, the one ``hmac.new`` wraps: the wrapper's
    ``copy``, ``update`` and ``hexdigest`` are Python calls, ~3,600 instructions per record
    on the event loop (callgrind), for the same bytes."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        self._base = _hashlib.hmac_new(key, digestmod="sha256")

    def __call__(self, signed: bytes) -> bytes:
        """The ``mac`` member's value (hex, ASCII) for a line whose bytes before ``,"mac":``
        are ``signed``."""
        one = self._base.copy()
        one.update(signed)
        return one.hexdigest().encode("ascii")

    def __repr__(self) -> str:
        return "<audit Mac, key redacted>"


def split_mac(line: bytes) -> tuple[bytes, bytes] | None:
    """A keyed line's signed bytes and its MAC (hex), or None when it carries no MAC."""
    tail = line[-_MAC_TAIL:]
    if len(line) <= _MAC_TAIL or not tail.startswith(MAC_MEMBER) or not tail.endswith(b'"}'):
        return None
    return line[:-_MAC_TAIL], tail[len(MAC_MEMBER) : -2]


def segment_name(number: int) -> str:
    """The file name of segment ``number``."""
    return f"{number:08d}.jsonl"


class NotPlain(ValueError):
    """A chain directory or a segment that is not a plain directory or regular file: a
    symbolic link (which would alias another chain, or pull any file into a backup) or a
    FIFO, socket or device (which would hang or feed every reader)."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path}: {what}; run `mamori audit verify`")
        self.path = path
        self.what = what


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a directory" if stat.S_ISDIR(mode) else "a file"


def plain(path: Path, *, directory: bool = False) -> None:
    """Raise ``NotPlain`` unless ``path`` itself (``lstat``: a link is never followed) is a
    regular file, or with ``directory`` a directory. Every reader of the chains checks each
    chain directory and segment with this (``segments``) before it reads."""
    mode = os.lstat(path).st_mode
    if not (stat.S_ISDIR(mode) if directory else stat.S_ISREG(mode)):
        wanted = "not a chain directory" if directory else "not a regular file"
        raise NotPlain(path, f"{_kind(mode)}, {wanted}")


def open_segment(path: Path) -> BinaryIO:
    """A segment opened for reading, only if it is a regular file. Opened without following a
    link and without blocking (a FIFO swapped in after ``plain`` checked the path would
    otherwise hang the reader), then checked again on the open file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotPlain(path, f"{_kind(mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_segment(path: Path) -> bytes:
    """A whole segment's bytes (``open_segment``)."""
    with open_segment(path) as handle:
        return handle.read()


def chains(audit_dir: Path) -> list[Path]:
    """Every chain under ``audit_dir``, by name: each directory, and each symbolic link or
    special file too (not followed: ``segments`` refuses it, so a link aliasing another
    chain or a FIFO is reported, never read). Regular files there are not chains."""
    if not audit_dir.is_dir():
        return []
    return sorted(
        p
        for p in audit_dir.iterdir()
        if not p.name.startswith(".") and not stat.S_ISREG(os.lstat(p).st_mode)
    )


def segments(chain_dir: Path) -> list[tuple[int, Path]]:
    """The segments of one chain, in order. Raises ``NotPlain`` when the chain directory or a
    segment is not a plain directory or regular file (``plain``)."""
    plain(chain_dir, directory=True)
    found = []
    for path in chain_dir.iterdir():
        match = _SEGMENT.fullmatch(path.name)
        if match is not None:
            plain(path)
            found.append((int(match.group(1)), path))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Break:
    """Where and why a chain stops verifying (the first such place)."""

    chain: str
    file: Path
    line: int  # 1-based, within ``file``; 0: the file or directory itself
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Report:
    """What walking a chain found."""

    chain: str
    records: int
    segments: int
    last_hash: str
    sealed: tuple[str, ...]  # positions of torn records that were sealed (crash evidence)
    broken: Break | None
    keyed: bool  # every MAC was checked (False: the hash chain only)
    unkeyed: int  # records 1..unkeyed carry no MAC (written before keying); keyed walks only


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The record a line holds (without its newline), or None when it is not one: not JSON,
    not UTF-8, nested too deeply for the parser (RecursionError), or not a record's shape."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    # ``type(...) is int``: JSON true is not a seq.
    if not isinstance(value, dict) or type(value.get("seq")) is not int:
        return None
    if not isinstance(value.get("prev"), str) or not isinstance(value.get("type"), str):
        return None
    return value


def verify(
    chain_dir: Path,
    key: Mac | None = None,
    *,
    keyed_since: str | None = None,
    expect: Mapping[int, str] | None = None,
) -> Report:
    """Walk every segment of a chain and check every link, and with ``key`` every MAC; stop at
    the first break. Records without a MAC are accepted only as the chain's first records and
    dated before ``keyed_since`` (when the audit key was made). ``expect`` maps seqs to the
    hashes their records must have (heads copied out earlier): a rewrite up to one, or records
    cut after one, is a break."""
    name = chain_dir.name
    prev, seq, count, unkeyed, keyed_seen = GENESIS, 0, 0, 0, False
    sealed: list[str] = []
    files: list[tuple[int, Path]] = []
    expected_number = 1
    last_file, last_line = chain_dir, 0

    def report(broken: Break | None) -> Report:
        return Report(
            name, count, len(files), prev, tuple(sealed), broken, key is not None, unkeyed
        )

    try:
        files = segments(chain_dir)
    except NotPlain as exc:
        return report(Break(name, exc.path, 0, exc.what))
    if not files and os.path.lexists(chain_dir / LOCK_NAME):
        # A writer took this chain (the lock is made first, the first segment at once after),
        # so its segments were there: removed since.
        reason = f"the chain has a {LOCK_NAME} but no segments: its segments are gone"
        return report(Break(name, chain_dir, 0, reason))
    for number, path in files:
        if number != expected_number:
            missing = segment_name(expected_number)
            return report(Break(name, path, 1, f"segment {missing} is missing"))
        expected_number += 1
        try:
            data = read_segment(path)
        except NotPlain as exc:
            return report(Break(name, exc.path, 0, exc.what))
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if tail:
            reason = "the last record is torn (no newline): a writer died mid-write"
            return report(Break(name, path, len(lines) + 1, reason))
        last_file, last_line = path, len(lines)
        torn: tuple[int, bytes] | None = None
        for index, line in enumerate(lines, start=1):
            record = parse_line(line)
            if record is None:
                if torn is not None:
                    return report(Break(name, path, torn[0], "not a record"))
                torn = (index, line)
                continue
            sealing = torn is not None
            if torn is not None:
                if (
                    record["type"] != "torn"
                    or record.get("torn_sha256") != digest(torn[1])
                    or record.get("torn_bytes") != len(torn[1])
                ):
                    return report(Break(name, path, torn[0], "not a record"))
                sealed.append(f"{path}:{torn[0]}")
                torn = None
            if record["seq"] != seq + 1:
                reason = f"seq {record['seq']} follows {seq}: records are missing or reordered"
                return report(Break(name, path, index, reason))
            if record["prev"] != prev:
                reason = (
                    f"prev does not match the hash of the record before it (seq {seq}): "
                    "that record was edited"
                )
                return report(Break(name, path, index, reason))
            if key is not None:
                signed = split_mac(line)
                if signed is not None:
                    if not hmac.compare_digest(key(signed[0]), signed[1]):
                        reason = (
                            "the MAC does not match: the record was written or changed "
                            "without the audit key"
                        )
                        return report(Break(name, path, index, reason))
                    keyed_seen = True
                elif keyed_seen or "mac" in record:
                    reason = "the record has no MAC, but the records before it have one"
                    return report(Break(name, path, index, reason))
                elif keyed_since is not None and str(record.get("time", "")) >= keyed_since:
                    reason = (
                        f"the record has no MAC, but is dated after the audit key was made "
                        f"({keyed_since}): its MAC was removed"
                    )
                    return report(Break(name, path, index, reason))
                else:
                    unkeyed += 1
            misplaced = _misplaced(record, index, number, name, sealing)
            if misplaced is not None:
                return report(Break(name, path, index, misplaced))
            prev, seq = digest(line), record["seq"]
            count += 1
            wanted = expect.get(seq) if expect else None
            if wanted is not None and not hmac.compare_digest(prev, wanted):
                reason = (
                    f"seq {seq} hashes to {prev}, not to the expected head {wanted}: "
                    "the chain was rewritten up to it"
                )
                return report(Break(name, path, index, reason))
        if torn is not None:
            return report(Break(name, path, torn[0], "not a record, and not sealed"))
    beyond = [at for at in expect or () if at > seq]
    if beyond:
        reason = (
            f"the chain ends at seq {seq}, before the expected head at seq {min(beyond)}: "
            "records were cut from its end"
        )
        return report(Break(name, last_file, last_line + 1, reason))
    return report(None)


def _misplaced(
    record: dict[str, Any], index: int, number: int, chain: str, sealing: bool
) -> str | None:
    """Why a record whose links hold is still not where the writer would have put it (line
    ``index`` of segment ``number`` of ``chain``; ``sealing``: right after a torn line), or
    None. A header names its segment and chain, so a segment copied in from another chain or
    another place in this one does not verify even when its links were forged to fit."""
    kind = record["type"]
    if kind not in _TYPES:
        return f"unknown record type {json.dumps(kind[:64])}"
    if not valid_time(record.get("time")):
        return "the time is not a UTC time as the writer writes it (YYYY-MM-DDTHH:MM:SS.ffffffZ)"
    if kind == TORN and not sealing:
        return "a torn record, but no torn line before it"
    if index == 1 and kind != SEGMENT:
        return "the segment does not open with its header"
    if kind != SEGMENT:
        return None
    if index != 1:
        return "a segment header in the middle of a segment"
    segment = record.get("segment")
    if type(segment) is not int or segment != number:
        return "segment header names another segment"
    if record.get("chain") != chain:
        named = json.dumps(str(record.get("chain"))[:64])
        return f"the segment header names the chain {named}, not {json.dumps(chain)}"
    return None


def valid_time(value: object) -> bool:
    """Whether ``value`` is a record time as the writer makes it (``TIME_FORMAT``)."""
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        return False
    try:
        datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        return False
    return True


def records(chain_dir: Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every whole record of a chain with its file and line, in order (torn lines skipped)."""
    for _, path in segments(chain_dir):
        yield from segment_records(path)


def segment_records(path: Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every whole record of one segment with its line number."""
    with open_segment(path) as handle:
        for index, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                break
            record = parse_line(line[:-1])
            if record is not None:
                yield path, index, record


@dataclass(frozen=True, slots=True)
class Tail:
    """The end of a chain as a writer resumes it."""

    segment: int  # 0: the chain has no segment yet
    size: int
    seq: int
    last_hash: str
    torn: bytes  # the bytes after the last newline of the last segment


def read_tail(chain_dir: Path) -> Tail:
    """Where a writer resumes a chain: the last whole record's seq and hash, and a torn tail.
    Reads only the end of the last segment (a chain is verified by ``verify``, not at start)."""
    files = segments(chain_dir)
    if not files:
        return Tail(0, 0, 0, GENESIS, b"")
    number, path = files[-1]
    data = _end_of(path)
    cut = data.rfind(b"\n")
    torn = data[cut + 1 :]
    whole = data[: cut + 1]
    if not whole.strip():
        if number == 1:
            return Tail(number, path.stat().st_size, 0, GENESIS, torn)
        # A segment torn in its header: the chain ended in the segment before.
        before = read_tail_of(files[-2][1])
        return Tail(number, path.stat().st_size, before[0], before[1], torn)
    last = whole[:-1].rsplit(b"\n", 1)[-1]
    record = parse_line(last)
    if record is None:
        raise ValueError(f"{path}: the last whole line is not a record; run `mamori audit verify`")
    return Tail(number, path.stat().st_size, record["seq"], digest(last), torn)


def read_tail_of(path: Path) -> tuple[int, str]:
    """The seq and hash of the last whole record of one segment."""
    data = _end_of(path)
    whole = data[: data.rfind(b"\n") + 1]
    last = whole[:-1].rsplit(b"\n", 1)[-1]
    record = parse_line(last)
    if record is None:
        raise ValueError(f"{path}: the last whole line is not a record; run `mamori audit verify`")
    return record["seq"], digest(last)


def _end_of(path: Path, chunk: int = 1 << 16) -> bytes:
    """Enough of the end of ``path`` to hold its last two lines."""
    with open_segment(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            data = handle.read()
            if start == 0 or data.count(b"\n") >= 2:
                return data
            chunk *= 4
