"""The session table: random ids, expiry on idleness and on age, a bound, ending by AccessKey."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mamori.gateway.console.sessions import SessionsFull, SessionStore
from mamori.gateway.console.throttle import FailedSignIns


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_found_by_its_id_only() -> None:
    store = SessionStore(clock=Clock())
    sid, session = store.create("LTAIa", "acs:ram::1:root")
    other, _ = store.create("LTAIa", "acs:ram::1:root")
    assert sid != other and len(sid) == 43
    assert store.get(sid) is session
    assert store.get(sid[:-1] + ("A" if sid[-1] != "A" else "B")) is None
    assert store.get("") is None and store.get("x" * 500) is None
    assert session.csrf_matches(session.csrf_token)
    assert not session.csrf_matches(session.csrf_token[:-1])
    assert sid not in repr(session) and session.csrf_token not in repr(session)


def test_sessions_expire_when_idle_and_when_old() -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=60, max_age_seconds=150, clock=clock)
    sid, _ = store.create("LTAIa", "arn")
    clock.now += 59
    assert store.get(sid) is not None  # use restarts the idle clock
    clock.now += 59
    assert store.get(sid) is not None
    clock.now += 40  # 158 s old: past the absolute limit though never idle for long
    assert store.get(sid) is None
    idle, _ = store.create("LTAIa", "arn")
    clock.now += 61
    assert store.get(idle) is None


def test_the_table_is_bounded_and_full_means_refused_not_evicted() -> None:
    clock = Clock()
    store = SessionStore(max_sessions=3, idle_seconds=60, clock=clock)
    ids = [store.create(f"LTAI{i}", "arn")[0] for i in range(3)]
    with pytest.raises(SessionsFull):
        store.create("LTAI3", "arn")
    assert len(store) == 3 and all(store.get(s) is not None for s in ids)
    clock.now += 61  # expired sessions make room
    newest, _ = store.create("LTAI3", "arn")
    assert len(store) == 1 and store.get(newest) is not None


def test_one_access_key_holds_a_few_sessions_ending_its_own_oldest() -> None:
    clock = Clock()
    store = SessionStore(max_sessions=10, max_per_key=3, clock=clock)
    other, _ = store.create("LTAIother", "arn")
    mine = []
    for _ in range(5):
        clock.now += 1
        mine.append(store.create("LTAImine", "arn")[0])
        assert store.get(other) is not None  # keeps its idle clock going
    assert [store.get(s) is not None for s in mine] == [False, False, True, True, True]
    assert len(store) == 4


def test_failed_sign_ins_are_counted_in_windows_with_bounded_memory(tmp_path: Path) -> None:
    clock = Clock()
    failures = FailedSignIns(
        tmp_path / "sign-ins.lock",
        address_limit=3,
        access_key_limit=5,
        window_seconds=100,
        max_entries=6,
        clock=clock,
    )
    for _ in range(3):
        assert failures.attempt("10.0.0.1", "LTAIa") is None  # counted as it is let through
    limited = failures.attempt("10.0.0.1", "LTAIb")
    assert limited is not None and limited.by_address and limited.retry_after == 100
    # An IPv6 /64 is one source; an IPv4-mapped address is the IPv4 address.
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        assert failures.attempt(host, "LTAIc") is None
    assert failures.attempt("2001:db8::ffff", "LTAIz") is not None
    assert failures.attempt("::ffff:10.0.0.1", "LTAIz") is not None
    # A sign-in that succeeds counts nothing.
    assert failures.attempt("10.0.1.9", "LTAIa") is None
    failures.succeeded("10.0.1.9", "LTAIa")
    for n in range(2):
        assert failures.attempt(f"10.0.1.{n}", "LTAIa") is None
    by_key = failures.attempt("10.0.9.9", "LTAIa")
    assert by_key is not None and not by_key.by_address
    clock.now += 100
    assert failures.attempt("10.0.0.1", "LTAIa") is None
    for n in range(50):  # many sources: the memory stays bounded
        failures.attempt(f"10.1.0.{n}", f"LTAI{n}")
    assert len(failures) == 6


def test_failed_sign_ins_are_counted_once_for_every_process(tmp_path: Path) -> None:
    failures = FailedSignIns(tmp_path / "sign-ins.lock", address_limit=4)
    children = []
    for n in range(2):  # two forked processes, as a node's workers are, two attempts each
        pid = os.fork()
        if pid == 0:
            let_in = [failures.attempt("10.0.0.1", f"LTAI{n}{i}") is None for i in range(2)]
            os._exit(0 if all(let_in) else 1)
        children.append(pid)
    assert all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in children)
    limited = failures.attempt("10.0.0.1", "LTAIother")
    assert limited is not None and limited.by_address


def test_ending_by_access_key_and_signing_out() -> None:
    store = SessionStore(clock=Clock())
    a1, _ = store.create("LTAIa", "arn")
    a2, _ = store.create("LTAIa", "arn")
    b, _ = store.create("LTAIb", "arn")
    assert store.end_for_key("LTAIa") == 2
    assert store.get(a1) is None and store.get(a2) is None and store.get(b) is not None
    store.end(b)
    assert store.get(b) is None
