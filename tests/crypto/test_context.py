"""EncryptionContext → AAD agrees with the official instance SDK's ``sort_and_encode``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mamori.api.errors import ApiError
from mamori.api.params import JsonMap
from mamori.crypto.context import ambiguity, canonical, context_aad

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "encryption_context.json").read_text("utf-8")
)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: json.dumps(v["context"]))
def test_aad_matches_the_official_sdk(vector: dict[str, object]) -> None:
    context = vector["context"]
    assert isinstance(context, dict)
    assert context_aad(context) == str(vector["aad"]).encode("ascii")


def test_equal_sets_give_equal_aad_and_empty_gives_none() -> None:
    assert context_aad({"a": "1", "b": "2"}) == context_aad({"b": "2", "a": "1"})
    assert context_aad({}) == b""
    assert context_aad(None) == b""


# -- injectivity (issue 9, item 13) --------------------------------------------------------------

# Rich in what the k=v&k=v form does not escape, plus escapes, empty strings and non-ASCII.
_PIECES = ["=", "&", "%", "%26", "a", "b", " ", "é", "🔑", "\\u0026"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=5).map("".join)
_MAPS = st.dictionaries(_TEXT, _TEXT, max_size=4)


def accepted(context: dict[str, str]) -> bool:
    """What the EncryptionContext parameter lets through (``JsonMap`` asks ``ambiguity``)."""
    return not any(ambiguity(k, v) for k, v in context.items())


def decode(text: str) -> dict[str, str]:
    """The left inverse of ``canonical`` on accepted maps, as the module docstring argues: a
    segment holding '=' starts a pair, a segment without one continues the previous value."""
    pairs: list[list[str]] = []
    for segment in text.split("&"):
        if "=" in segment:
            key, _, value = segment.partition("=")
            pairs.append([key, value])
        else:
            pairs[-1][1] += "&" + segment
    return dict((k, v) for k, v in pairs)


def readings(text: str) -> Iterator[dict[str, str]]:
    """Every map whose k=v&k=v form is ``text``, however its '&' and '=' are read."""
    segments = text.split("&")

    def groups(rest: list[str]) -> Iterator[list[str]]:
        for cut in range(1, len(rest) + 1):
            head = "&".join(rest[:cut])
            for tail in groups(rest[cut:]) if cut < len(rest) else iter([[]]):
                yield [head, *tail]

    def splits(items: list[str]) -> Iterator[list[tuple[str, str]]]:
        if not items:
            yield []
            return
        first = items[0]
        for at in [i for i, c in enumerate(first) if c == "="]:
            for rest in splits(items[1:]):
                yield [(first[:at], first[at + 1 :]), *rest]

    for grouping in groups(segments):
        for pairs in splits(grouping):
            context = dict(pairs)
            if len(context) == len(pairs) and canonical(context) == text:
                yield context


@given(_MAPS)
@settings(max_examples=200)
def test_accepted_maps_decode_back_from_their_text(context: dict[str, str]) -> None:
    assume(context and accepted(context))
    assert decode(canonical(context)) == context


@given(_MAPS)
@settings(max_examples=300)
def test_no_other_reading_of_an_accepted_maps_text_is_accepted(context: dict[str, str]) -> None:
    """The adversary's search: every map spelling the same text; all but the original are
    refused. (Refused maps may share text with each other; they never reach the AAD.)"""
    assume(context and accepted(context))
    text = canonical(context)
    for twin in readings(text):
        assert twin == context or not accepted(twin), (context, twin)


@given(_MAPS, st.data())
@settings(max_examples=300)
def test_distinct_accepted_maps_give_distinct_aad(one: dict[str, str], data: st.DataObject) -> None:
    """Either map refused, or distinct maps give distinct AAD; the second map is as often as
    not another reading of the first one's text, the near miss an attacker would look for."""
    twins = list(readings(canonical(one))) if one else [{}]
    two = data.draw(st.sampled_from(twins) | _MAPS)
    if accepted(one) and accepted(two) and one != two:
        assert context_aad(one) != context_aad(two)


@given(_MAPS)
@settings(max_examples=300)
def test_the_parameter_accepts_exactly_the_unambiguous_maps(context: dict[str, str]) -> None:
    param = JsonMap("EncryptionContext")
    text = json.dumps(context, ensure_ascii=False)
    if accepted(context):
        assert param.read({"EncryptionContext": text}) == context
    else:
        with pytest.raises(ApiError) as info:
            param.read({"EncryptionContext": text})
        assert info.value.code == "InvalidParameter"


def test_the_issues_maps_are_refused_but_one() -> None:
    maps = [{"a": "b&c=d"}, {"a": "b", "c": "d"}, {"a=b&c": "d"}]
    assert len({canonical(m) for m in maps}) == 1
    assert [accepted(m) for m in maps] == [False, True, False]


def test_the_empty_map_and_the_empty_key_differ() -> None:
    assert context_aad({}) == b""
    assert len(context_aad({"": ""})) == 64
    assert accepted({"": ""}) and accepted({"": "=", "a": "&"})


@pytest.mark.parametrize(
    "text", ['{"a":"x","a":"y"}', '{"a":{"b":"x","b":"y"}}', '{"a":1}', '{"a":null}', "[]"]
)
def test_duplicate_keys_and_non_strings_are_refused(text: str) -> None:
    with pytest.raises(ApiError) as info:
        JsonMap("EncryptionContext").read({"EncryptionContext": text})
    assert info.value.code == "InvalidParameter"
