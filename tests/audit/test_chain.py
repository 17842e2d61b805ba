"""The chain on disk: a record edited, a record deleted mid-file, a segment truncated or missing,
each found by ``mamori audit verify`` with its file and line (exit 8); a record torn by a crash is
sealed at the next start, never dropped. Chains written by a real server, segments rotated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.helpers import audit_cli, find, verified
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess, free_port


def _segments(server: ServerProcess) -> list[Path]:
    (chain,) = [p for p in (server.data_dir / "audit").iterdir() if p.is_dir()]
    return sorted(chain.glob("*.jsonl"))


def _broken(server: ServerProcess, *args: str) -> str:
    done = audit_cli(server.data_dir, "verify", *args)
    assert done.returncode == 8, done.stdout + done.stderr
    return done.stdout


def test_an_intact_chain_verifies_across_rotated_segments(stopped: ServerProcess) -> None:
    segments = _segments(stopped)
    assert len(segments) >= 3
    for number, segment in enumerate(segments, start=1):
        header = json.loads(segment.read_bytes().split(b"\n", 1)[0])
        assert (header["type"], header["segment"]) == ("segment", number)
    out = verified(stopped.data_dir)
    assert "OK" in out and f"in {len(segments)} segment(s)" in out
    as_json = json.loads(audit_cli(stopped.data_dir, "verify", "--json").stdout)
    assert (as_json["ok"], as_json["break"]) == (True, None)


def test_an_edited_record_breaks_the_chain_at_the_next_one(stopped: ServerProcess) -> None:
    segment = _segments(stopped)[1]
    lines = segment.read_bytes().split(b"\n")
    assert b'"action":"Encrypt"' in lines[3]
    lines[3] = lines[3].replace(b'"action":"Encrypt"', b'"action":"Decrypt"')
    segment.write_bytes(b"\n".join(lines))
    # Its own MAC no longer matches; without the key, the next record's prev does not.
    out = _broken(stopped)
    assert f"BROKEN at {segment}:4: the MAC does not match" in out
    row = json.loads(audit_cli(stopped.data_dir, "verify", "--json").stdout)
    assert row["break"]["file"] == str(segment) and row["break"]["line"] == 4
    out = _broken(stopped, "--unkeyed")
    assert f"BROKEN at {segment}:5: prev does not match" in out


def test_a_record_deleted_mid_file_is_found(stopped: ServerProcess) -> None:
    segment = _segments(stopped)[1]
    lines = segment.read_bytes().split(b"\n")
    del lines[2]
    segment.write_bytes(b"\n".join(lines))
    assert f"BROKEN at {segment}:3: seq" in _broken(stopped)
    assert "records are missing" in _broken(stopped)


def test_a_truncated_or_missing_segment_is_found(stopped: ServerProcess) -> None:
    first, second, *_ = _segments(stopped)
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])  # cut mid-record
    out = _broken(stopped)
    assert f"BROKEN at {first}:" in out and "torn" in out
    # Cut at a record boundary instead: the next segment no longer follows.
    cut = data[: len(data) // 2]
    first.write_bytes(cut[: cut.rfind(b"\n") + 1])
    assert f"BROKEN at {second}:1: seq" in _broken(stopped)
    first.write_bytes(data)
    verified(stopped.data_dir)
    second.unlink()
    assert "segment 00000002.jsonl is missing" in _broken(stopped)


def test_a_torn_last_record_is_sealed_at_the_next_start(stopped: ServerProcess) -> None:
    last = _segments(stopped)[-1]
    torn = b'{"seq":999,"type":"request","time":"2026-'
    with last.open("ab") as handle:
        handle.write(torn)  # what a crash in the middle of a write leaves
    assert "torn" in _broken(stopped)
    stopped.start()
    kms = new_sdk(stopped.endpoint, stopped.access_key_id, stopped.access_key_secret)
    kms.describe_regions()
    stopped.stop()
    out = verified(stopped.data_dir)
    assert "1 torn record(s) sealed" in out
    data = b"".join(p.read_bytes() for p in _segments(stopped))
    assert torn + b"\n" in data  # kept, not dropped
    marker = json.loads(data.split(torn + b"\n", 1)[1].split(b"\n", 1)[0])
    assert (marker["type"], marker["torn_bytes"]) == ("torn", len(torn))
    assert find(stopped.data_dir, "--action", "DescribeRegions")


def test_a_second_server_on_the_same_chain_is_refused(
    stopped: ServerProcess, tmp_path: Path
) -> None:
    stopped.start()
    other = ServerProcess("sqlite", stopped.data_dir, stopped.store_url, free_port(), free_port())
    with pytest.raises(RuntimeError, match="the audit log did not open"):
        other.start()
    assert other.process is not None and other.process.returncode == 8
