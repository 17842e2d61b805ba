"""``mamori encrypt`` / ``decrypt`` / ``data-key`` against a real server: streamed envelope
encryption, refusals of changed files, constant memory, and the progress bar on a terminal."""

from __future__ import annotations

import base64
import os
import pty
import select
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mamori.crypto.envelope_stream import read_stream_header
from tests.cli.people import answer, environ, invoke, run
from tests.conftest import ROOT, ServerProcess

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
CHUNK = 1024
REFUSED = (
    "cannot decrypt {}: it was changed, cut short, reordered or extended, or --context differs "
    "from the context it was encrypted with"
)


@pytest.fixture
def alias(server: ServerProcess) -> str:
    name = f"alias/files-{uuid.uuid4().hex[:8]}"
    answer(server, "keys", "create", "--alias", name)
    return name


def _encrypt(server: ServerProcess, alias: str, plain: Path, *extra: str) -> Path:
    done = invoke(server, "encrypt", "--file", str(plain), "--key", alias,
                  "--chunk-size", str(CHUNK), *extra)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    return plain.with_name(plain.name + ".mamori")


def test_round_trip_with_a_context(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    for size in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK):
        plain = tmp_path / f"p{size}"
        plain.write_bytes(os.urandom(size))
        sealed = _encrypt(server, alias, plain, "--context", "file=p", "--context", "n=1")
        assert sealed.stat().st_mode & 0o777 == 0o600
        out = tmp_path / f"o{size}"
        opened = invoke(server, "decrypt", "-f", str(sealed), "-o", str(out),
                        "--context", "n=1", "--context", "file=p")  # fmt: skip
        assert opened.exit_code == 0, opened.stderr
        assert out.read_bytes() == plain.read_bytes()
    with sealed.open("rb") as handle:
        head = read_stream_header(handle.read)
    assert (head.context, head.chunk_size) == ({"file": "p", "n": "1"}, CHUNK)


def _chunks(sealed: Path) -> tuple[bytes, list[bytes]]:
    with sealed.open("rb") as handle:
        head = read_stream_header(handle.read)
        body = handle.read()
    size = head.sealed_chunk_size
    return head.raw, [body[i : i + size] for i in range(0, len(body), size)]


def test_changed_files_are_refused(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    plain = tmp_path / "data"
    plain.write_bytes(os.urandom(4 * CHUNK + 100))
    sealed = _encrypt(server, alias, plain)
    head, chunks = _chunks(sealed)
    assert len(chunks) == 5
    flipped = bytearray(chunks[1])
    flipped[7] ^= 1
    cases = {
        "flipped": head + b"".join([chunks[0], bytes(flipped), *chunks[2:]]),
        "reordered": head + b"".join([chunks[1], chunks[0], *chunks[2:]]),
        "dropped": head + b"".join([chunks[0], *chunks[2:]]),
        "truncated": head + b"".join(chunks[:3]),
        "cut-mid-chunk": (head + b"".join(chunks))[:-50],
        "extended": head + b"".join(chunks) + chunks[-1],
        "header-changed": head[:-1] + bytes([head[-1] ^ 1]) + b"".join(chunks),
    }
    for name, data in cases.items():
        bad = tmp_path / f"{name}.mamori"
        bad.write_bytes(data)
        result = invoke(server, "decrypt", "-f", str(bad))
        assert result.exit_code == 4, name
        assert result.stderr.strip() == "mamori: " + REFUSED.format(bad), name
        assert not (tmp_path / name).exists(), name  # nothing half-decrypted is left
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{name}")] == []

    other = invoke(server, "decrypt", "-f", str(sealed), "-o", str(tmp_path / "x"),
                   "--context", "a=b")  # fmt: skip
    assert other.exit_code == 4 and other.stderr.strip() == "mamori: " + REFUSED.format(sealed)

    garbage = tmp_path / "garbage.mamori"
    garbage.write_bytes(b"\x01garbage")
    result = invoke(server, "decrypt", "-f", str(garbage))
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        f"mamori: {garbage} is not a file mamori encrypt made (not an envelope of a known version)"
    )


def test_usage_errors_exit_2(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    plain = tmp_path / "data"
    plain.write_bytes(b"x")
    _encrypt(server, alias, plain)
    exists = invoke(server, "encrypt", "-f", str(plain), "-k", alias)
    assert exists.exit_code == 2
    assert exists.stderr.strip() == f"mamori: {plain}.mamori exists (--force replaces it)"
    assert invoke(server, "encrypt", "-f", str(plain), "-k", alias, "--force").exit_code == 0
    context = invoke(server, "encrypt", "-f", str(plain), "-k", alias, "--context", "novalue")
    assert context.exit_code == 2
    assert context.stderr.strip() == "mamori: --context takes KEY=VALUE, not 'novalue'"
    suffix = invoke(server, "decrypt", "-f", str(plain))
    assert suffix.exit_code == 2
    assert suffix.stderr.strip() == (
        f"mamori: {plain} does not end in .mamori: say where to write with --out"
    )
    missing = invoke(server, "encrypt", "-f", str(tmp_path / "none"), "-k", alias)
    assert missing.exit_code == 2
    chunk = invoke(server, "encrypt", "-f", str(plain), "-k", alias, "--chunk-size", "10")
    assert chunk.exit_code == 2
    assert chunk.stderr.strip() == "mamori: --chunk-size must be 1024 … 4194304"
    refused = invoke(server, "encrypt", "-f", str(plain), "-k", "alias/none", "-o",
                     str(tmp_path / "o"))  # fmt: skip
    assert refused.exit_code == 1 and refused.stderr.startswith("Forbidden.KeyNotFound: ")
    assert not (tmp_path / "o").exists()


def test_data_keys(server: ServerProcess, alias: str) -> None:
    wrapped = answer(server, "data-key", alias, "--context", "a=b")
    assert "Plaintext" not in wrapped and wrapped["CiphertextBlob"]
    shown = answer(server, "data-key", alias, "--show-plaintext", "--bytes", "16")
    assert len(base64.b64decode(shown["Plaintext"])) == 16


# Linux counts a child's peak RSS from the memory it was forked with, and pytest is large: so a
# small Python process starts the command and reports its child's peak (wait4's ru_maxrss).
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _peak_rss_kib(args: list[str], env: dict[str, str]) -> int:
    done = subprocess.run([sys.executable, "-c", MEASURE, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_200_mib_in_constant_memory(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    plain = tmp_path / "big.bin"
    with plain.open("wb") as handle:
        for _ in range(200):
            handle.write(os.urandom(1024 * 1024))
    env = environ(server)
    cli = [sys.executable, "-m", "mamori.cli"]
    baseline = _peak_rss_kib([*cli, "keys", "describe", alias], env)
    sealed = tmp_path / "big.bin.mamori"
    encrypting = _peak_rss_kib([*cli, "encrypt", "-f", str(plain), "-k", alias], env)
    out = tmp_path / "big.out"
    decrypting = _peak_rss_kib([*cli, "decrypt", "-f", str(sealed), "-o", str(out)], env)
    print(f"peak RSS: baseline {baseline} KiB, encrypt {encrypting} KiB, decrypt {decrypting} KiB")
    # A 64 KiB chunk (and its read-ahead) is all the file that is ever in memory.
    assert encrypting - baseline < 8 * 1024
    assert decrypting - baseline < 8 * 1024
    assert sealed.stat().st_size == 200 * 1024 * 1024 + 3200 * 16 + len(_chunks_head(sealed))
    assert _same(plain, out)


def _chunks_head(sealed: Path) -> bytes:
    with sealed.open("rb") as handle:
        return read_stream_header(handle.read).raw


def _same(a: Path, b: Path) -> bool:
    with a.open("rb") as left, b.open("rb") as right:
        while True:
            x, y = left.read(1 << 20), right.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def test_the_progress_bar_is_shown_on_a_terminal(
    server: ServerProcess, alias: str, tmp_path: Path
) -> None:
    plain = tmp_path / "data"
    plain.write_bytes(os.urandom(3 * 1024 * 1024))
    leader, follower = pty.openpty()
    env = environ(server, TERM="xterm-256color")
    env.pop("COLUMNS")
    process = subprocess.Popen(
        [sys.executable, "-m", "mamori.cli", "encrypt", "-f", str(plain), "-k", alias],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        screen += data
    os.close(leader)
    assert process.wait(timeout=30) == 0
    text = screen.decode("utf-8", errors="replace")
    assert "━" in text and "3.1/3.1 MB" in text, text
    assert f"encrypted {plain}" in text
    # Not on a pipe: the same command without a terminal prints no bar.
    piped = run(server, "encrypt", "-f", str(plain), "-k", alias, "--force")
    assert piped.returncode == 0 and "━" not in piped.stderr


def test_stdin_to_stdout(server: ServerProcess, alias: str) -> None:
    env = environ(server)
    cli = [sys.executable, "-m", "mamori.cli"]
    sealed = subprocess.run(
        [*cli, "encrypt", "-f", "-", "-k", alias],
        input=b"streamed", capture_output=True, env=env, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    opened = subprocess.run(
        [*cli, "decrypt", "-f", "-", "-o", "-"],
        input=sealed, capture_output=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    assert opened.stdout == b"streamed"


def test_decrypt_names_the_key_and_can_require_one(
    server: ServerProcess, alias: str, tmp_path: Path
) -> None:
    key_id = answer(server, "keys", "describe", alias)["KeyMetadata"]["KeyId"]
    other = f"alias/files-{uuid.uuid4().hex[:8]}"
    other_id = answer(server, "keys", "create", "--alias", other)["KeyId"]
    plain = tmp_path / "report.pdf"
    plain.write_bytes(b"quarterly numbers")
    sealed = _encrypt(server, alias, plain)
    plain.unlink()

    # Through the real entry point: which key opened it is said on stderr.
    opened = run(server, "decrypt", "-f", str(sealed), "--key", alias)
    assert opened.returncode == 0, opened.stderr
    assert opened.stderr == f"decrypted {sealed} → {plain} with key {key_id}\n"
    assert plain.read_bytes() == b"quarterly numbers"
    by_id = run(server, "decrypt", "-f", str(sealed), "-o", "-", "--key", key_id)
    assert by_id.returncode == 0 and by_id.stdout == "quarterly numbers"
    assert by_id.stderr == f"decrypted {sealed} with key {key_id}\n"

    # Another key required: refused with its own exit code, and nothing written.
    plain.unlink()
    for required in (other, other_id):
        refused = run(server, "decrypt", "-f", str(sealed), "--key", required)
        assert refused.returncode == 5, refused.stderr
        assert refused.stderr == (
            f"mamori: {sealed} was encrypted under {key_id}, not under --key {required} "
            f"({other_id}); nothing was written\n"
        )
        assert not plain.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == [sealed.name]
    # A --key the server does not know is the server's refusal (exit 1).
    missing = run(server, "decrypt", "-f", str(sealed), "--key", "alias/no-such-key-here")
    assert missing.returncode == 1 and missing.stderr.startswith("Forbidden.KeyNotFound: ")
