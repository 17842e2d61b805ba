"""The invalidation bus on its own: local handlers run at once, messages go out as JSON ids, a
received message runs the handler here only, and a reset reaches every registered cache."""

from __future__ import annotations

import json

import pytest

from mamori.core.invalidation import Invalidations


def test_publish_receive_and_reset() -> None:
    bus = Invalidations()
    seen: list[list[str]] = []
    resets: list[str] = []
    sent: list[str] = []
    bus.register("key", seen.append, lambda: resets.append("key"))
    bus.register("secret", seen.append, lambda: resets.append("secret"))

    bus.publish("key", "key-1")  # not connected: applied here only
    bus.connect(sent.append)
    bus.publish("secret", "1234", "db/password")
    assert seen == [["key-1"], ["1234", "db/password"]]
    assert [json.loads(m) for m in sent] == [["secret", "1234", "db/password"]]

    bus.receive(sent[0])  # another node's message: handled, not sent again
    assert seen[-1] == ["1234", "db/password"] and len(sent) == 1
    bus.receive("not json")
    bus.receive('["unknown-topic","x"]')
    assert len(seen) == 3

    bus.reset()
    assert resets == ["key", "secret"]
    with pytest.raises(ValueError):
        bus.register("key", seen.append, lambda: None)


def test_a_failed_send_leaves_the_local_change_in_place() -> None:
    bus = Invalidations()
    seen: list[list[str]] = []
    bus.register("key", seen.append, lambda: None)

    def broken(_payload: str) -> None:
        raise ConnectionError("store unreachable")

    bus.connect(broken)
    bus.publish("key", "key-1")
    assert seen == [["key-1"]]


def test_a_message_its_handler_cannot_take_resets_everything() -> None:
    """Anyone who can connect to the database can NOTIFY: a bad message must not raise (it
    would end the listener thread), and what it meant to invalidate is unknown, so all goes."""
    bus = Invalidations()
    resets: list[str] = []
    bus.register("secret", lambda args: print(args[0], args[1]), lambda: resets.append("secret"))
    bus.register("key", lambda args: None, lambda: resets.append("key"))
    bus.receive('["secret","only-one-id"]')
    assert resets == ["secret", "key"]
