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

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

GENESIS: Final = "0" * 64
LOCK_NAME: Final = ".lock"
_SEGMENT: Final = re.compile(r"(\d{8})\.jsonl")
MAC_MEMBER: Final = b',"mac":"'
# The MAC member and the closing brace that end a keyed line: ,"mac":"<64 hex>"}
_MAC_TAIL: Final = len(MAC_MEMBER) + 64 + 2


def digest(line: bytes) -> str:
    """The hash the next record's ``prev`` carries: SHA-256 of the line without its newline."""
    return hashlib.sha256(line).hexdigest()


class Mac:
    """HMAC-SHA256 under the audit key, the key's pads computed once: a copy per record costs
    ~2 µs where ``hmac.digest`` costs ~3 µs (OpenSSL 3, measured on a 600-byte record)."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod="sha256")

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


def chains(audit_dir: Path) -> list[Path]:
    """Every chain directory under ``audit_dir``, by name."""
    if not audit_dir.is_dir():
        return []
    return sorted(p for p in audit_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def segments(chain_dir: Path) -> list[tuple[int, Path]]:
    """The segments of one chain, in order."""
    found = []
    for path in chain_dir.iterdir():
        match = _SEGMENT.fullmatch(path.name)
        if match is not None:
            found.append((int(match.group(1)), path))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Break:
    """Where and why a chain stops verifying (the first such place)."""

    chain: str
    file: Path
    line: int  # 1-based, within ``file``
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


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
    """The record a line holds (without its newline), or None when it is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("seq"), int):
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
    files = segments(chain_dir)
    expected_number = 1
    last_file, last_line = chain_dir, 0

    def report(broken: Break | None) -> Report:
        return Report(
            name, count, len(files), prev, tuple(sealed), broken, key is not None, unkeyed
        )

    for number, path in files:
        if number != expected_number:
            missing = segment_name(expected_number)
            return report(Break(name, path, 1, f"segment {missing} is missing"))
        expected_number += 1
        data = path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if tail:
            reason = "the last record is torn (no newline): a writer died mid-write"
            return report(Break(name, path, len(lines) + 1, reason))
        last_file, last_line = path, len(lines)
        first_record = True
        torn: tuple[int, bytes] | None = None
        for index, line in enumerate(lines, start=1):
            record = parse_line(line)
            if record is None:
                if torn is not None:
                    return report(Break(name, path, torn[0], "not a record"))
                torn = (index, line)
                continue
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
            if first_record and record["type"] not in ("segment", "torn"):
                return report(Break(name, path, index, "the segment does not open with its header"))
            if record["type"] == "segment" and record.get("segment") != number:
                return report(Break(name, path, index, "segment header names another segment"))
            first_record = False
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


def records(chain_dir: Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every whole record of a chain with its file and line, in order (torn lines skipped)."""
    for _, path in segments(chain_dir):
        yield from segment_records(path)


def segment_records(path: Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every whole record of one segment with its line number."""
    with path.open("rb") as handle:
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
    size = path.stat().st_size
    with path.open("rb") as handle:
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            data = handle.read()
            if start == 0 or data.count(b"\n") >= 2:
                return data
            chunk *= 4
