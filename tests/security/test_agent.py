"""Attacks on ``mamori agent`` by local processes, replayed against a real agent in front of a
real server (tests/agent/conftest.py). docs/security.md, "Dedicated gateway and agent", lists
them."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.agent.conftest import AgentProcess, admin, agents
from tests.conftest import ServerProcess

__all__ = ["admin", "agents"]

Agents = Callable[..., AgentProcess]


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["Code"])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# -- M3: the request head is bounded in size and time ---------------------------------------


def test_an_endless_header_is_refused_quickly_and_memory_stays_bounded(
    agents: Agents, server: ServerProcess
) -> None:
    agent = agents(server)
    before = rss_mb(agent.process.pid)
    chunk = b"a" * 65536
    answer = b""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", agent.port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        # 64 MiB at most, for 3 s at most; the agent should cut it off after its head limit.
        with contextlib.suppress(OSError):
            for _ in range(1024):
                if time.monotonic() - started > 3:
                    break
                sock.sendall(chunk)
        with contextlib.suppress(OSError):
            answer = sock.recv(4096)
    elapsed = time.monotonic() - started
    grown = rss_mb(agent.process.pid) - before
    print(f"answer {answer[:40]!r} after {elapsed:.2f} s; RSS grew {grown:.1f} MB")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"RequestHeaderFieldsTooLarge"' in answer
    assert elapsed < 2.0
    assert grown < 16, grown
    assert agent.get("/mamori/stats").status_code == 200


def test_half_sent_heads_do_not_lock_out_a_caller_with_the_token(
    agents: Agents, server: ServerProcess
) -> None:
    agent = agents(server, "[Server]\nMaxConn = 5\nRequestReadTimeoutSeconds = 2\n")
    held = []
    try:
        for _ in range(25):
            sock = socket.create_connection(("127.0.0.1", agent.port))
            sock.sendall(b"GET /mamori/stats HTTP/1.1\r\nHost: x\r\n")  # never ends
            held.append(sock)
        time.sleep(0.2)
        # Only connections with a whole request head count toward MaxConn.
        with httpx.Client(base_url=f"http://127.0.0.1:{agent.port}", timeout=5) as caller:
            response = caller.get("/mamori/stats", headers={"X-KMS-Token": agent.token})
            assert response.status_code == 200, response.text
        # And half-sent heads are answered 408 and closed at the read deadline.
        time.sleep(2.5)
        for sock in held:
            sock.settimeout(2)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in held:
            sock.close()
