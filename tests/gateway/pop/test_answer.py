"""The shared gateway's answer body: byte for byte what json.dumps writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mamori.gateway.pop.answer import encode_answer


def dumps(result: dict[str, Any]) -> bytes:
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()


# Characters that decide the path: plain ASCII, the two that need an escape, control
# characters (DEL included, which JSON leaves alone), non-ASCII and a surrogate-free astral.
_CHARS = st.sampled_from(list('aZ09+/=-_.: "\\\x00\x1f\x7f\x80éü中😀\u2028'))
_TEXT = st.lists(_CHARS, max_size=12).map("".join) | st.text(max_size=12)
_VALUE = _TEXT | st.integers() | st.booleans() | st.none() | st.lists(_TEXT, max_size=3)


@given(st.dictionaries(_TEXT, _TEXT, max_size=6))
def test_string_answers_match_json_dumps(result: dict[str, str]) -> None:
    assert encode_answer(result) == dumps(result)


@given(st.dictionaries(_TEXT, _VALUE, max_size=6))
def test_any_answer_matches_json_dumps(result: dict[str, Any]) -> None:
    assert encode_answer(result) == dumps(result)


def test_a_ciphertext_answer_is_written_directly() -> None:
    result = {"RequestId": "0f4e", "CiphertextBlob": "YWJj+/==", "KeyId": "key-1"}
    assert (
        encode_answer(result) == b'{"RequestId":"0f4e","CiphertextBlob":"YWJj+/==","KeyId":"key-1"}'
    )
    assert encode_answer({}) == b"{}"
