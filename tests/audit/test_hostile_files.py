"""Hostile files in the audit directory, made by hand after a real server wrote a chain (a
review's findings): a FIFO or a symbolic link for a segment or a chain directory, a line nested
too deeply for the JSON parser, a chain aliased or its segments removed, records out of place,
and line separators in what ``export`` and ``--json`` write. Each one is reported, never
followed, hung on or crashed on."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.audit.helpers import audit_cli, verified
from tests.backup.test_backup import mamori
from tests.conftest import ServerProcess

Segment = list[dict[str, Any]]


def _chain(server: ServerProcess) -> Path:
    (chain,) = [p for p in (server.data_dir / "audit").iterdir() if p.is_dir()]
    return chain


def _segments(server: ServerProcess) -> list[Path]:
    return sorted(_chain(server).glob("*.jsonl"))


def _broken(server: ServerProcess, *args: str) -> str:
    done = audit_cli(server.data_dir, "verify", *args)
    assert done.returncode == 8, done.stdout + done.stderr
    return done.stdout


def _refused(server: ServerProcess, command: str, *args: str) -> str:
    done = audit_cli(server.data_dir, command, *args)
    assert done.returncode == 8, done.stdout + done.stderr
    return done.stderr


def _relink(server: ServerProcess, change: Callable[[list[Segment]], None]) -> None:
    """Rewrite the chain with ``change`` applied to its records, every seq and prev made to fit
    again (what someone who can write the files but has not the audit key can do: the MACs
    are dropped, so only ``verify --unkeyed`` sees the links)."""
    files = _segments(server)
    chain = [[json.loads(line) for line in path.read_bytes().splitlines()] for path in files]
    change(chain)
    prev, seq = "0" * 64, 0
    for path, records in zip(files, chain, strict=True):
        lines = []
        for record in records:
            seq += 1
            body = {k: v for k, v in record.items() if k not in ("seq", "prev", "mac")}
            line = json.dumps({"seq": seq, **body, "prev": prev}, separators=(",", ":"))
            prev = hashlib.sha256(line.encode()).hexdigest()
            lines.append(line.encode() + b"\n")
        path.write_bytes(b"".join(lines))


def test_a_fifo_or_a_link_for_a_segment_is_a_break_not_a_hang(
    stopped: ServerProcess, tmp_path: Path
) -> None:
    # `head` reads only the end of the last segment.
    last = _segments(stopped)[-1]
    last_saved = tmp_path / "last.jsonl"
    shutil.move(last, last_saved)
    os.mkfifo(last)
    assert f"{last}: a FIFO, not a regular file" in _refused(stopped, "head")
    last.unlink()
    shutil.move(last_saved, last)
    second = _segments(stopped)[1]
    saved = tmp_path / "saved.jsonl"
    shutil.move(second, saved)
    os.mkfifo(second)  # opened for reading, it blocks until a writer comes: none will
    assert f"BROKEN at {second}: a FIFO, not a regular file" in _broken(stopped, "--unkeyed")
    assert f"{second}: a FIFO, not a regular file" in _refused(stopped, "tail")
    assert f"{second}: a FIFO" in _refused(stopped, "search")
    assert f"{second}: a FIFO" in _refused(stopped, "export")
    # Backup refuses it too, naming it, rather than hang or leave it out.
    done = mamori("backup", "--data-dir", str(stopped.data_dir), str(tmp_path / "b.tar.gz"))
    assert done.returncode == 8, done.stdout + done.stderr
    assert f"{second}: a FIFO, not a regular file" in done.stderr
    assert not (tmp_path / "b.tar.gz").exists()
    # A link to a copy elsewhere (the same bytes) is refused as well: never followed.
    second.unlink()
    second.symlink_to(saved)
    assert f"BROKEN at {second}: a symbolic link, not a regular file" in _broken(stopped)
    done = mamori("backup", "--data-dir", str(stopped.data_dir), str(tmp_path / "c.tar.gz"))
    assert done.returncode == 8 and "a symbolic link" in done.stderr, done.stderr
    second.unlink()
    shutil.move(saved, second)
    verified(stopped.data_dir)


def test_a_line_nested_too_deeply_is_a_broken_line(stopped: ServerProcess) -> None:
    second = _segments(stopped)[1]
    lines = second.read_bytes().split(b"\n")
    lines[3] = b'{"seq":1,"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    second.write_bytes(b"\n".join(lines))
    assert f"BROKEN at {second}:4: not a record" in _broken(stopped)
    for command in ("tail", "search"):
        done = audit_cli(stopped.data_dir, command, "--json")
        assert done.returncode == 0, done.stderr  # the line is skipped, as a torn one is
        assert "Traceback" not in done.stderr


def test_a_chain_aliased_copied_or_emptied_is_a_break(stopped: ServerProcess) -> None:
    chain = _chain(stopped)
    name = chain.name
    alias = chain.parent / "vm-w9"
    alias.symlink_to(name)  # `ln -s vm-w0 vm-w9`: the same records counted as a second chain
    out = _broken(stopped)
    assert f"vm-w9: BROKEN at {alias}: a symbolic link, not a chain directory" in out
    assert f"{name}: OK" in out
    assert "a symbolic link" in _refused(stopped, "search")
    assert "a symbolic link" in _refused(stopped, "head")
    alias.unlink()
    # A real copy under another name: its headers name the chain it came from.
    shutil.copytree(chain, alias)
    out = _broken(stopped)
    assert (
        f'vm-w9: BROKEN at {alias}/00000001.jsonl:1: the segment header names the chain "{name}", '
        'not "vm-w9"'
    ) in out
    shutil.rmtree(alias)
    # Its segments removed (`rm` of every segment; the writer's lock stays).
    for segment in _segments(stopped):
        segment.unlink()
    out = _broken(stopped)
    assert f"BROKEN at {chain}: the chain has a .lock but no segments: its segments are gone" in out


def test_records_out_of_place_are_breaks(stopped: ServerProcess) -> None:
    pristine = {path: path.read_bytes() for path in _segments(stopped)}
    second = _segments(stopped)[1]

    def doctored(change: Callable[[list[Segment]], None]) -> str:
        for path, data in pristine.items():
            path.write_bytes(data)
        _relink(stopped, change)
        return _broken(stopped, "--unkeyed")

    _relink(stopped, lambda chain: None)  # relinked unchanged: verifies by hash
    assert "OK" in audit_cli(stopped.data_dir, "verify", "--unkeyed").stdout

    def torn_record(chain: list[Segment]) -> None:
        chain[1].insert(3, {"type": "torn", "time": chain[1][2]["time"], "torn_bytes": 1})

    out = doctored(torn_record)
    assert f"BROKEN at {second}:4: a torn record, but no torn line before it" in out

    def header_mid_segment(chain: list[Segment]) -> None:
        chain[1][3] = {**chain[1][0], "chain": "vm-w7"}

    out = doctored(header_mid_segment)
    assert f"BROKEN at {second}:4: a segment header in the middle of a segment" in out

    def header_of_another_chain(chain: list[Segment]) -> None:
        chain[1][0]["chain"] = "vm-w7"

    out = doctored(header_of_another_chain)
    assert f'BROKEN at {second}:1: the segment header names the chain "vm-w7"' in out

    def no_header(chain: list[Segment]) -> None:
        del chain[1][0]

    out = doctored(no_header)
    assert f"BROKEN at {second}:1: the segment does not open with its header" in out

    for bad in ("yesterday", "2026-12-04T10:00:00Z", "2026-12-04T10:00:00.000000+09:00", 17):

        def odd_time(chain: list[Segment], bad: object = bad) -> None:
            chain[1][2]["time"] = bad

        out = doctored(odd_time)
        assert f"BROKEN at {second}:3: the time is not a UTC time as the writer writes it" in out

    def unknown(chain: list[Segment]) -> None:
        chain[1][2]["type"] = "note"

    assert f'BROKEN at {second}:3: unknown record type "note"' in doctored(unknown)


def test_line_separators_are_escaped_in_export_and_json(stopped: ServerProcess) -> None:
    segment = _segments(stopped)[-1]
    data = segment.read_bytes()
    assert b'"action":"Encrypt"' in data
    # As the writer would record a caller's action: JSON-escaped on disk.
    segment.write_bytes(data.replace(b'"action":"Encrypt"', b'"action":"E\\u2028n\\u2029c\\u0085"'))
    runs = [
        audit_cli(stopped.data_dir, "export"),
        audit_cli(stopped.data_dir, "search", "--limit", "0", "--json"),
        audit_cli(stopped.data_dir, "tail", "-n", "5", "--json"),
    ]
    for done in runs:
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "\\u2028" in out
        for raw in ("\u2028", "\u2029", "\u0085"):
            assert raw not in out
        # str.splitlines splits on each of them: one record per line only when escaped.
        rows = [json.loads(line) for line in out.splitlines()]
        assert "E\u2028n\u2029c\u0085" in {row["action"] for row in rows}
