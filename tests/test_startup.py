"""``mamori server`` that cannot start says why in one line, with the documented exit code.

Each case runs the real command and asserts the whole of stderr and the exit code
(docs/operations.md, "Start-up errors").
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, sqlite_server


def _start(
    tmp_path: Path, *args: str, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mamori.cli",
            "server",
            "--data-dir",
            str(data_dir or tmp_path / "data"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr and "Mamori listening" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_store_refusing_the_credentials_names_store_url(tmp_path: Path) -> None:
    url = "postgresql://mamori_nobody:wrong-password@127.0.0.1:5432/postgres"
    done = _start(tmp_path, "--store-url", url, "--port", str(free_port()), "--tls-port", "0")
    line = _one_line(done)
    assert done.returncode == 4
    assert line.startswith("mamori: cannot start: store_url: the store cannot be used: ")
    assert "mamori_nobody" in line and "wrong-password" not in line


def test_an_unreachable_store_names_store_url(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://mamori@127.0.0.1:{port}/mamori"
    done = _start(tmp_path, "--store-url", url, "--port", str(free_port()), "--tls-port", "0")
    line = _one_line(done)
    assert done.returncode == 4
    assert line.startswith("mamori: cannot start: store_url: the store cannot be used: ")
    assert "Connection refused" in line


def test_a_store_url_of_another_database_is_a_configuration_error(tmp_path: Path) -> None:
    done = _start(tmp_path, "--store-url", "mysql://db/x", "--port", str(free_port()))
    assert _one_line(done) == (
        "mamori: cannot start: store_url: not a sqlite:///… or postgresql://… URL"
    )
    assert done.returncode == 2


@pytest.mark.parametrize("which", ["port", "tls_port"])
def test_a_port_in_use_names_the_port_and_nothing_claims_to_listen(
    tmp_path: Path, which: str
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = {"port": free_port(), "tls_port": free_port(), which: taken}
        done = _start(tmp_path, "--port", str(ports["port"]), "--tls-port", str(ports["tls_port"]))
    assert _one_line(done) == (
        f"mamori: cannot start: {which}: 127.0.0.1:{taken} is already in use by another process"
    )
    assert done.returncode == 6


def test_a_port_another_mamori_serves_is_in_use_too(tmp_path: Path) -> None:
    # Workers bind with SO_REUSEPORT, which would let a second server of the same user share the
    # port, each taking half the connections; it must be refused like any busy port.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        done = _start(tmp_path, "--port", str(taken), "--tls-port", "0")
    assert _one_line(done) == (
        f"mamori: cannot start: port: 127.0.0.1:{taken} is already in use by another process"
    )
    assert done.returncode == 6


def test_a_host_that_is_not_ours_names_host(tmp_path: Path) -> None:
    done = _start(tmp_path, "--host", "192.0.2.1", "--port", str(free_port()), "--tls-port", "0")
    assert _one_line(done) == (
        "mamori: cannot start: host: 192.0.2.1 is not an address of this machine"
    )
    assert done.returncode == 6


def test_a_data_dir_that_cannot_be_a_directory_names_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    data_dir = tmp_path / "file" / "data"
    done = _start(tmp_path, "--port", str(free_port()), data_dir=data_dir)
    assert _one_line(done) == (
        f"mamori: cannot start: data_dir: {data_dir} is not a writable directory (Not a directory)"
    )
    assert done.returncode == 7


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_a_read_only_data_dir_names_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o500)
    done = _start(tmp_path, "--port", str(free_port()), data_dir=data_dir)
    assert _one_line(done) == (
        f"mamori: cannot start: data_dir: {data_dir} is not a writable directory "
        "(Permission denied)"
    )
    assert done.returncode == 7


def test_a_malformed_config_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "mamori.toml"
    config.write_text('[server]\nport = "8080\n')
    done = _start(tmp_path, "--config", str(config))
    assert _one_line(done) == (
        f"mamori: cannot start: cannot read config file {config}: "
        "Illegal character '\\n' (at line 2, column 13)"
    )
    assert done.returncode == 2


def test_a_config_value_of_the_wrong_kind_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "mamori.toml"
    config.write_text('[server]\nport = "eighty"\n')
    done = _start(tmp_path, "--config", str(config))
    assert _one_line(done) == "mamori: cannot start: setting 'port' has an invalid value 'eighty'"
    assert done.returncode == 2


def test_a_store_migrated_by_a_newer_mamori_is_refused_untouched(tmp_path: Path) -> None:
    server = sqlite_server(tmp_path)
    server.start()
    assert server.stop() == 0
    db = tmp_path / "data" / "mamori.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    done = _start(tmp_path, "--store-url", f"sqlite:///{db}", "--port", str(free_port()))
    assert _one_line(done) == (
        "mamori: cannot start: store_url: the database is at schema revision "
        "9999_from_the_future, which this Mamori does not know: it was migrated by a newer "
        "Mamori (run that version, or restore a backup made before the upgrade)"
    )
    assert done.returncode == 5
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999_from_the_future",)
        ]


def test_the_listening_line_comes_after_both_listeners_accept(tmp_path: Path) -> None:
    port, tls_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mamori.cli",
            "server",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--tls-port",
            str(tls_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "Mamori listening" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the server exited before announcing"
        # Connect at once: both must already accept.
        for each in (port, tls_port):
            socket.create_connection(("127.0.0.1", each), timeout=1).close()
        assert line.startswith(f"Mamori listening on http://127.0.0.1:{port} and https://")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
