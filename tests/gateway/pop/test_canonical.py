"""Percent-encoding and canonical query strings: tuned == reference == the official SDKs."""

from __future__ import annotations

import pytest
from alibabacloud_darabonba_encode_util.encoder import Encoder
from alibabacloud_tea_openapi.utils import get_canonical_query_string
from hypothesis import given
from hypothesis import strategies as st

from mamori.gateway.pop.canonical import (
    PaddedHeader,
    canonical_headers,
    canonical_query,
    canonical_query_reference,
    names_need_encoding,
    percent_encode,
    percent_encode_reference,
)

# Lone surrogates cannot reach the encoder: the request parser decodes with errors="replace".
text = st.text(st.characters(exclude_categories=["Cs"]))
# Bias towards what KMS values are made of, so the ASCII fast paths get hammered too.
kms_alphabet = st.sampled_from("AZaz09-_.~+/=%*&: {}\"',ü鍵🔑")
kms_text = st.one_of(
    text,
    st.text(kms_alphabet),
    # Long values take a different fast path (see canonical._TRANSLATE_MAX).
    st.text(kms_alphabet, min_size=60, max_size=400),
    st.text(st.sampled_from("AZaz09+/="), min_size=60, max_size=400),
    st.just(""),
)
pairs = st.lists(st.tuples(kms_text, kms_text), max_size=8)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("", ""),
        ("key-0123_abc.~", "key-0123_abc.~"),
        ("a b", "a%20b"),
        ("+/=", "%2B%2F%3D"),
        ("*", "%2A"),
        ("%41", "%2541"),
        ("%%2B", "%25%252B"),
        ("ü", "%C3%BC"),
        ("鍵", "%E9%8D%B5"),
        ("🔑", "%F0%9F%94%91"),
        ('{"a":"b c"}', "%7B%22a%22%3A%22b%20c%22%7D"),
    ],
)
def test_percent_encode_known_answers(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded
    assert percent_encode_reference(raw) == encoded


@given(kms_text)
def test_percent_encode_matches_reference(value: str) -> None:
    assert percent_encode(value) == percent_encode_reference(value)


@given(kms_text)
def test_percent_encode_matches_sdk_encoder(value: str) -> None:
    assert percent_encode(value) == Encoder.percent_encode(value)


@given(pairs, st.booleans())
def test_canonical_query_matches_reference(items: list[tuple[str, str]], encode: bool) -> None:
    assert canonical_query(items, encode_names=encode) == canonical_query_reference(
        items, encode_names=encode
    )


@given(st.dictionaries(kms_text, kms_text, max_size=8))
def test_raw_name_canonical_query_matches_acs3_sdk(query: dict[str, str]) -> None:
    # The new SDK's V3 signer leaves names unencoded: that is encode_names=False.
    assert canonical_query(query.items(), encode_names=False) == get_canonical_query_string(query)


def test_canonical_query_sorts_by_name_then_value() -> None:
    items = [("b", "1"), ("a.b", "x"), ("a", "2"), ("a", "1"), ("B", "")]
    assert canonical_query(items) == "B=&a=1&a=2&a.b=x&b=1"


def test_names_need_encoding() -> None:
    assert not names_need_encoding([("ExtendedConfig.CustomData.k-1_~", "v v")])
    assert names_need_encoding([("KeyId", "k"), ("ExtendedConfig.CustomData.my key", "v")])


def test_canonical_headers_keeps_order() -> None:
    headers = {"host": "h:1", "x-acs-action": "Encrypt", "accept": " a"}
    assert (
        canonical_headers(headers, ("x-acs-action", "host")) == "x-acs-action:Encrypt\nhost:h:1\n"
    )


@pytest.mark.parametrize("value", [" h", "h ", "h\t", "\xa0h", "h\x85", "h\u3000"])
def test_canonical_headers_refuses_what_stripping_would_change(value: str) -> None:
    # The SDKs sign value.strip(): a value it changes would be signed as one and used as another.
    with pytest.raises(PaddedHeader):
        canonical_headers({"host": value}, ("host",))
