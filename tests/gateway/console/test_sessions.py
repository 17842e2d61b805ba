"""The session table: random ids, expiry on idleness and on age, a bound, ending by AccessKey."""

from __future__ import annotations

from mamori.gateway.console.sessions import SessionStore


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


def test_the_table_is_bounded_dropping_the_least_recently_used() -> None:
    store = SessionStore(max_sessions=3, clock=Clock())
    ids = [store.create(f"LTAI{i}", "arn")[0] for i in range(3)]
    assert store.get(ids[0]) is not None  # now the most recently used
    newest, _ = store.create("LTAI3", "arn")
    assert len(store) == 3
    assert store.get(ids[1]) is None
    assert all(store.get(s) is not None for s in (ids[0], ids[2], newest))


def test_ending_by_access_key_and_signing_out() -> None:
    store = SessionStore(clock=Clock())
    a1, _ = store.create("LTAIa", "arn")
    a2, _ = store.create("LTAIa", "arn")
    b, _ = store.create("LTAIb", "arn")
    assert store.end_for_key("LTAIa") == 2
    assert store.get(a1) is None and store.get(a2) is None and store.get(b) is not None
    store.end(b)
    assert store.get(b) is None
