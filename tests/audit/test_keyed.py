"""The keyed chain (docs/audit.md, "What verification cannot see"): every record carries an
HMAC under the deployment's audit key, so a rewrite by someone who can write the audit files but
cannot open the keyring — every later ``prev`` recomputed correctly — is found by ``mamori audit
verify`` (exit 8, file and line). ``--unkeyed`` checks the hash chain only and says what it cannot
see; ``--expect-head`` finds records cut from the end."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.audit.helpers import audit_cli, verified
from tests.conftest import ServerProcess

_PREV = re.compile(rb'"prev":"[0-9a-f]{64}"')


def _segments(server: ServerProcess) -> list[Path]:
    (chain,) = [p for p in (server.data_dir / "audit").iterdir() if p.is_dir()]
    return sorted(chain.glob("*.jsonl"))


def forge(segments: list[Path], edit: Callable[[int, int, bytes], bytes]) -> None:
    """Rewrite a chain as someone with write access but without the audit key would: ``edit``
    (segment index, line index, line) changes lines, and every later ``prev`` is recomputed so
    the hash chain holds again. Whatever MACs the lines carry are kept as they were."""
    import hashlib

    prev = "0" * 64
    for number, path in enumerate(segments):
        lines = path.read_bytes().split(b"\n")[:-1]
        out = []
        for index, line in enumerate(lines):
            line = edit(number, index, line)
            line = _PREV.sub(f'"prev":"{prev}"'.encode(), line, count=1)
            prev = hashlib.sha256(line).hexdigest()
            out.append(line)
        path.write_bytes(b"\n".join(out) + b"\n")


def _broken(data_dir: Path, *args: str) -> str:
    done = audit_cli(data_dir, "verify", *args)
    assert done.returncode == 8, done.stdout + done.stderr
    return done.stdout


def test_a_rewrite_with_every_later_prev_recomputed_is_found(stopped: ServerProcess) -> None:
    segments = _segments(stopped)
    second = segments[1]

    def to_decrypt(number: int, index: int, line: bytes) -> bytes:
        if number == 1 and index == 3:
            assert b'"action":"Encrypt"' in line
            return line.replace(b'"action":"Encrypt"', b'"action":"Decrypt"')
        return line

    forge(segments, to_decrypt)
    out = _broken(stopped.data_dir)
    assert f"BROKEN at {second}:4: the MAC does not match" in out
    row = json.loads(audit_cli(stopped.data_dir, "verify", "--json").stdout)
    assert (row["break"]["file"], row["break"]["line"]) == (str(second), 4)
    # The hash chain alone holds: --unkeyed passes, and says what it could not see.
    unkeyed = audit_cli(stopped.data_dir, "verify", "--unkeyed")
    assert unkeyed.returncode == 0, unkeyed.stdout + unkeyed.stderr
    assert "OK" in unkeyed.stdout
    assert "hash chain only" in unkeyed.stderr
    assert "a rewrite by someone who can write the audit files would not be seen" in (
        unkeyed.stderr
    )


_MAC = re.compile(rb',"mac":"[0-9a-f]{64}"')


def test_a_removed_mac_is_found(stopped: ServerProcess) -> None:
    segments = _segments(stopped)
    second = segments[1]

    def strip_one(number: int, index: int, line: bytes) -> bytes:
        return _MAC.sub(b"", line) if (number, index) == (1, 2) else line

    forge(segments, strip_one)
    out = _broken(stopped.data_dir)
    assert f"BROKEN at {second}:3: the record has no MAC, but the records before it have one" in (
        out
    )


def test_a_chain_stripped_of_every_mac_is_not_taken_for_an_old_one(
    stopped: ServerProcess,
) -> None:
    """Records written before keying have no MAC and are checked by hash only; a chain whose
    MACs were all removed is told apart by its dates: the store says when the key was made."""
    segments = _segments(stopped)
    forge(segments, lambda _n, _i, line: _MAC.sub(b"", line))
    out = _broken(stopped.data_dir)
    assert f"BROKEN at {segments[0]}:1: the record has no MAC, but is dated after the audit " in (
        out
    )
    assert "its MAC was removed" in out
    # The same chain as an old one: written before the audit key was made (moved to later
    # here, in the store, which someone who writes only the audit files cannot do).
    with sqlite3.connect(stopped.data_dir / "mamori.db") as db:
        db.execute("UPDATE audit_key SET created_at = created_at + 86400")
    done = audit_cli(stopped.data_dir, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    records = sum(len(p.read_bytes().splitlines()) for p in segments)
    assert f"records 1–{records} carry no MAC (written before the audit key existed): checked " in (
        done.stderr
    )
    row = json.loads(audit_cli(stopped.data_dir, "verify", "--json").stdout)
    assert (row["ok"], row["keyed"], row["unkeyed_records"]) == (True, True, records)


def test_expect_head_finds_records_cut_from_the_end(stopped: ServerProcess) -> None:
    heads = audit_cli(stopped.data_dir, "head")
    assert heads.returncode == 0, heads.stderr
    (head,) = heads.stdout.split()
    chain, seq, digest = head.split(":")
    as_json = json.loads(audit_cli(stopped.data_dir, "head", "--json").stdout)
    assert as_json == {"chain": chain, "seq": int(seq), "hash": digest}
    assert "OK" in verified(stopped.data_dir, "--expect-head", head)

    last = _segments(stopped)[-1]
    lines = last.read_bytes().split(b"\n")[:-1]
    if len(lines) > 2:
        last.write_bytes(b"\n".join(lines[:-2]) + b"\n")  # records cut at a line boundary
        end_file, end_line = last, len(lines) - 1
    else:
        last.unlink()  # or a whole segment, the newest
        end_file = _segments(stopped)[-1]
        end_line = len(end_file.read_bytes().split(b"\n"))
    assert "OK" in verified(stopped.data_dir)  # the chain alone cannot tell
    (now,) = audit_cli(stopped.data_dir, "head").stdout.split()
    cut_to = int(now.split(":")[1])
    assert cut_to < int(seq)
    out = _broken(stopped.data_dir, "--expect-head", head)
    assert (
        f"BROKEN at {end_file}:{end_line}: the chain ends at seq {cut_to}, before the "
        f"expected head at seq {seq}: records were cut from its end"
    ) in out
    # A head still in the chain holds.
    assert "OK" in verified(stopped.data_dir, "--expect-head", now)
    # A rewrite up to the head, or a chain removed whole, is found too.
    wrong = f"{chain}:{cut_to}:{'0' * 64}"
    assert f"seq {cut_to} hashes to" in _broken(stopped.data_dir, "--expect-head", wrong)
    gone = _broken(stopped.data_dir, "--expect-head", f"other-w0:3:{digest}")
    assert "other-w0: BROKEN at" in gone and "the chain is missing" in gone
    bad = audit_cli(stopped.data_dir, "verify", "--expect-head", "not-a-head")
    assert bad.returncode == 2
    assert "--expect-head takes CHAIN:SEQ:HASH" in bad.stderr


def test_without_the_root_key_verify_refuses_unless_unkeyed(stopped: ServerProcess) -> None:
    root_key = stopped.data_dir / "root.key"
    kept = root_key.read_bytes()
    root_key.unlink()
    done = audit_cli(stopped.data_dir, "verify")
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith("mamori: audit verify: cannot get the audit key: root key ")
    assert "`--unkeyed` checks the hash chain only" in done.stderr
    assert not root_key.exists()  # nothing was created
    unkeyed = audit_cli(stopped.data_dir, "verify", "--unkeyed")
    assert unkeyed.returncode == 0 and "hash chain only" in unkeyed.stdout
    # Another root key does not open the keyring: the same refusal.
    root_key.write_bytes(bytes(32))
    root_key.chmod(0o600)
    assert audit_cli(stopped.data_dir, "verify").returncode == 3
    root_key.write_bytes(kept)
    # No store at all: nothing to take the key from (and none is created).
    (stopped.data_dir / "mamori.db").rename(stopped.data_dir / "moved.db")
    done = audit_cli(stopped.data_dir, "verify")
    assert done.returncode == 3 and "no store at" in done.stderr
    assert not (stopped.data_dir / "mamori.db").exists()
