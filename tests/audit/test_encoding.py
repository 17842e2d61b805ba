"""The record encoder writes byte for byte what the encoder before issue 11's audit work wrote
(``reference_record.py``, kept as the oracle), for any event a gateway can describe: same
on-disk format, same escaping of what a client sent, same redaction. Its caches of encoded
pieces must never answer for a different event, so each example runs a sequence of events
through one pair of encoders, the events differing in few fields."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.audit import Encoder, Event
from mamori.audit.chain import Mac
from mamori.audit.record import _MAX_ID
from tests.audit import reference_record

# Anything at all, lone surrogates included (the claimed-id fingerprint encodes them with
# surrogatepass; the JSON escaper writes them as \\u escapes).
anything = st.text()
# Long values built from a little entropy (a drawn character or few, repeated), so that the
# examples stay within what hypothesis is willing to generate.
near_limit = st.builds(
    lambda char, size, tail: char * size + tail,
    st.sampled_from(list('Aa0._-é"\\')),
    st.integers(_MAX_ID - 4, _MAX_ID),
    st.text(max_size=4),
)
very_long = st.builds(
    lambda unit, size: unit * size,
    st.text(min_size=1, max_size=3),
    st.integers(_MAX_ID * 2 + 1, 600),
)
# Values made to repeat, so that cached pieces are hit, and to hit the shapes that matter.
pooled = st.sampled_from(
    [
        "",
        "key-1",
        "key-2",
        "alias/app",
        "acs:kms:cn-hangzhou:123:key/key-1",
        "acs:kms:cn-hangzhou:123:secret/s",
        "LTAI5tAbCdEfGhIjKlMnOpQr",
        "STS.NUgYrLnoC",
        "KAAP.abc",
        "unrecognised:0123456789abcdef",
        "tab\there",
        'quote"back\\slash',
        "鍵🔑",
        "\ud800",
    ]
)
value = st.one_of(pooled, pooled, anything, near_limit, very_long)
long_claims = st.builds(
    lambda prefix, size, tail: prefix + "y" * size + tail,
    pooled,
    st.integers(_MAX_ID, _MAX_ID + 8),
    st.text(max_size=4),
)
identifier_names = ["KeyId", "KeyVersionId", "SecretName", "VersionId", "Plaintext"]
result_value = st.one_of(value, st.none(), st.integers(), st.lists(value, max_size=2))
metadata = st.one_of(
    st.dictionaries(st.sampled_from(["KeyId", "Arn"]), result_value, max_size=2), value
)
absent = object()  # a member the mapping does not have


def choices(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """One or two values a field takes over a sequence: events then differ in few fields,
    often in one only, which is what a cache keyed on too little would get wrong."""
    return st.lists(values, min_size=1, max_size=2)


@st.composite
def sequences(draw: st.DrawFn) -> list[tuple[Event, float, float]]:
    """Events (each with how far the clock moved before it and how long it took)."""
    fields = {
        "gateway": draw(choices(st.sampled_from(["pop", "dedicated", "console"]))),
        "request_id": draw(choices(st.sampled_from(["REQ-1", "REQ-2"]))),
        "source_ip": draw(choices(st.one_of(st.sampled_from(["127.0.0.1", "::1"]), value))),
        "tls": draw(choices(st.booleans())),
        "action": draw(choices(st.one_of(st.sampled_from(["Encrypt", "CreateKey"]), value))),
        "version": draw(choices(st.one_of(st.just("2016-01-20"), value))),
        "account": draw(choices(st.one_of(st.sampled_from(["123", "456"]), value))),
        "principal": draw(choices(st.one_of(st.just("acs:ram::123:root"), value))),
        "access_key_id": draw(choices(st.one_of(value, long_claims))),
        "resources": draw(choices(st.one_of(st.just([]), st.lists(value, max_size=2)))),
        "code": draw(choices(st.sampled_from(["Success", "Forbidden.KeyNotFound", "Success "]))),
        "status": draw(choices(st.sampled_from([200, 400, 404, 503]))),
    }
    has_params, has_result = draw(choices(st.booleans())), draw(choices(st.booleans()))
    param_values = {name: draw(choices(st.just(absent) | value)) for name in identifier_names}
    result_values = {
        name: draw(choices(st.just(absent) | result_value | metadata))
        for name in [*identifier_names, "KeyMetadata"]
    }
    sequence = []
    for _ in range(draw(st.integers(1, 12))):
        pick = {name: draw(st.sampled_from(options)) for name, options in fields.items()}
        event = Event(pick["gateway"], pick["request_id"], pick["source_ip"], pick["tls"])
        for name in ("action", "version", "account", "principal", "access_key_id", "code"):
            setattr(event, name, pick[name])
        event.status, event.resources = pick["status"], list(pick["resources"])
        if draw(st.sampled_from(has_params)):
            chosen = {n: draw(st.sampled_from(o)) for n, o in param_values.items()}
            event.params = {n: v for n, v in chosen.items() if v is not absent}
        if draw(st.sampled_from(has_result)):
            chosen = {n: draw(st.sampled_from(o)) for n, o in result_values.items()}
            event.result = {n: v for n, v in chosen.items() if v is not absent}
        sequence.append((event, draw(st.floats(0, 3)), draw(st.floats(0, 2))))
    return sequence


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """``time.time`` and ``time.perf_counter`` as the test sets them: both encoders read the
    same instant."""
    now = [1_700_000_000.123456, 100.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(time, "perf_counter", lambda: now[1])
    yield now


# The clock fixture is meant to outlive the examples: each sets it before every event.
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=sequences())
def test_the_encoder_writes_what_the_reference_wrote(
    frozen_clock: list[float], sequence: list[tuple[Event, float, float]]
) -> None:
    new = Encoder("node-1", "cn-hangzhou")
    old: Any = reference_record.Encoder("node-1", "cn-hangzhou")
    for event, elapsed, later in sequence:
        frozen_clock[0] += elapsed  # the time of day moves on, across seconds or not
        frozen_clock[1] = event.started + later
        assert new.intent(event) == old.intent(event)
        assert new.body(event) == old.body(event)


def test_a_long_claimed_id_never_shares_an_entry_with_its_fingerprint(
    frozen_clock: list[float],
) -> None:
    """A claimed id longer than any issued is keyed by its fingerprint; a caller who sends
    that fingerprint itself as the id must still be recorded with the fingerprint of it."""
    new, old = Encoder("n", "r"), reference_record.Encoder("n", "r")
    long = Event("pop", "REQ-1", "127.0.0.1", False)
    long.access_key_id = "x" * (_MAX_ID + 1)
    short = Event("pop", "REQ-1", "127.0.0.1", False)
    short.access_key_id = reference_record.claimed_id(long.access_key_id)
    for event in (long, short, long, short):
        assert new.body(event) == old.body(event)  # type: ignore[arg-type]
    assert new.body(long) != new.body(short)


@given(key=st.binary(min_size=32, max_size=64), signed=st.binary(max_size=2048))
def test_the_record_mac_is_hmac_sha256(key: bytes, signed: bytes) -> None:
    """The writer's and verifier's MAC (OpenSSL's HMAC object, copied per record) is the
    standard HMAC-SHA256 of the line's bytes before ``,"mac":``, in lower-case hex."""
    expected = hmac.new(key, signed, hashlib.sha256).hexdigest().encode("ascii")
    mac = Mac(key)
    assert mac(signed) == expected
    assert mac(signed) == expected  # the keyed state is copied, never consumed


def test_distinct_huge_key_ids_do_not_grow_the_encoder() -> None:
    """A KeyId as the request named it (an unknown key's, say) keys the cache of encoded
    targets: it must key on the cut value, and the cache stays bounded."""
    import tracemalloc

    encoder = Encoder("node", "cn-hangzhou")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(5000):
            event = Event("pop", f"REQ-{n}", "127.0.0.1", False)
            event.action, event.code, event.status = "Encrypt", "Forbidden.KeyNotFound", 404
            event.params = {"KeyId": f"{n:05d}" + "K" * 20_000, "KeyVersionId": "V" * 20_000}
            encoder.body(event)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 8_000_000, grown
