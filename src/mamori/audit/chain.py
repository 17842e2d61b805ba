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

A process that died mid-write leaves a torn last line. The next writer does not drop it: it
ends the line and appends a ``torn`` record carrying the torn bytes' SHA-256 and length, whose
``prev`` is the hash of the last whole record. The verifier accepts a torn line only in that
shape, and says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

GENESIS: Final = "0" * 64
LOCK_NAME: Final = ".lock"
_SEGMENT: Final = re.compile(r"(\d{8})\.jsonl")


def digest(line: bytes) -> str:
    """The hash the next record's ``prev`` carries: SHA-256 of the line without its newline."""
    return hashlib.sha256(line).hexdigest()


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


def verify(chain_dir: Path) -> Report:
    """Walk every segment of a chain and check every link; stop at the first break."""
    name = chain_dir.name
    prev, seq, count = GENESIS, 0, 0
    sealed: list[str] = []
    files = segments(chain_dir)
    expected_number = 1

    def report(broken: Break | None) -> Report:
        return Report(name, count, len(files), prev, tuple(sealed), broken)

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
            if first_record and record["type"] not in ("segment", "torn"):
                return report(Break(name, path, index, "the segment does not open with its header"))
            if record["type"] == "segment" and record.get("segment") != number:
                return report(Break(name, path, index, "segment header names another segment"))
            first_record = False
            prev, seq = digest(line), record["seq"]
            count += 1
        if torn is not None:
            return report(Break(name, path, torn[0], "not a record, and not sealed"))
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
