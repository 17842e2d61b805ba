"""The envelope byte format (``mamori.crypto.envelope``): layout, canonical contexts, and every
malformed or changed envelope refused."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from mamori.crypto import envelope as fmt

KEY = AESGCM(bytes(range(32)))
WRAPPED = b"w" * 60


def test_the_layout_is_as_documented() -> None:
    context = fmt.context_json({"b": "2", "a": "ü"})
    assert context == '{"a":"ü","b":"2"}'.encode()
    head = fmt.header(context, WRAPPED)
    blob = fmt.seal(KEY, head, b"hello")
    n = len(context)
    assert blob[0] == 0x01
    assert int.from_bytes(blob[1:3], "big") == n
    assert blob[3 : 3 + n] == context
    assert int.from_bytes(blob[3 + n : 5 + n], "big") == len(WRAPPED)
    assert blob[5 + n : 5 + n + 60] == WRAPPED
    assert len(blob) == 5 + n + 60 + 12 + 5 + 16
    parsed = fmt.parse(blob)
    assert (parsed.context, parsed.wrapped_key, parsed.head) == (
        {"a": "ü", "b": "2"},
        WRAPPED,
        head,
    )
    assert fmt.open_envelope(KEY, parsed) == b"hello"


def test_no_context_is_empty() -> None:
    blob = fmt.seal(KEY, fmt.header(fmt.context_json(None), WRAPPED), b"")
    assert blob[1:3] == b"\0\0"
    assert fmt.open_envelope(KEY, fmt.parse(blob)) == b""


@pytest.mark.parametrize(
    "spelling",
    [b'{"b":"2","a":"1"}', b'{"a": "1"}', b'{"a":"\\u00fc"}', b'{"a":"1","a":"1"}', b"{}", b"[]"],
)
def test_only_the_canonical_context_is_read(spelling: bytes) -> None:
    head = bytes([1]) + len(spelling).to_bytes(2, "big") + spelling
    head += len(WRAPPED).to_bytes(2, "big") + WRAPPED
    with pytest.raises(fmt.MalformedEnvelope):
        fmt.parse(fmt.seal(KEY, head, b"x"))


def test_values_must_be_strings() -> None:
    with pytest.raises(ValueError, match="strings"):
        fmt.context_json({"a": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="8192"):
        fmt.context_json({"a": "x" * 9000})


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_reader(data: bytes) -> None:
    try:
        parsed = fmt.parse(data)
    except fmt.MalformedEnvelope:
        return
    with pytest.raises(fmt.DecryptionFailed):
        fmt.open_envelope(KEY, parsed)


def test_every_single_bit_change_is_refused() -> None:
    blob = fmt.seal(KEY, fmt.header(fmt.context_json({"k": "v"}), os.urandom(40)), b"data")
    for index in range(len(blob)):
        changed = bytearray(blob)
        changed[index] ^= 0x80
        with pytest.raises((fmt.MalformedEnvelope, fmt.DecryptionFailed)):
            fmt.open_envelope(KEY, fmt.parse(bytes(changed)))
