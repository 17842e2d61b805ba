"""Percent-encoding and canonical query strings: tuned == reference == the official SDKs."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode

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
    read_canonical_query,
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


# --- the canonical query read from the raw bytes ----------------------------------------------


def decode_then_encode(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    """The old path, kept as the oracle: form-decode the whole query, sort, re-encode."""
    text = raw.decode("utf-8", "replace")
    query = parse_qsl(text, keep_blank_values=True) if text else []
    return query, canonical_query(query)


# Raw queries made of the pieces that decide the fast path: separators, '+', escapes in both
# cases (kept, unreserved, non-UTF-8, truncated), bytes outside canonical form.
raw_piece = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        "-",
        "_",
        ".",
        "~",
        "+",
        "%2B",
        "%2b",
        "%20",
        "%25",
        "%41",
        "%7E",
        "%C3%BC",
        "%C3",
        "%BC",
        "%FF",
        "%E9%8D%B5",
        "%EF%BF%BD",
        "%2",
        "%",
        "%%",
        "%3",
        "3",
        "B",
        "%3D",
        "%2F",
        "%00",
        "%252",
        "*",
        " ",
        ";",
        "/",
        "\xc3\xbc",
        "=",
        "&",
    ]
)
raw_token = st.lists(raw_piece, max_size=6).map("".join)
raw_queries = st.one_of(
    st.lists(st.tuples(raw_token, raw_token), max_size=6).map(
        lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
    ),
    st.lists(raw_piece, max_size=24).map("".join),
).map(lambda text: text.encode("latin-1"))


@given(raw_queries)
def test_raw_canonical_query_equals_decode_then_encode(raw: bytes) -> None:
    read = read_canonical_query(raw)
    if read is not None:
        assert read == decode_then_encode(raw)


@given(st.lists(st.tuples(kms_text, kms_text), max_size=8), st.booleans())
def test_sdk_encoded_queries_take_the_raw_path(items: list[tuple[str, str]], plus: bool) -> None:
    # Both spellings of the SDKs (urlencode's '+' for a space, percent-encoding's '%20'): the
    # raw path must read every one of them, and read it as the old path did.
    raw = (urlencode(items) if plus else urlencode(items, quote_via=quote, safe="")).encode()
    read = read_canonical_query(raw)
    if "\ufffd" in raw.decode("utf-8", "replace") or any("\ufffd" in n + v for n, v in items):
        return  # a literal U+FFFD reads like a bad escape: the old path takes it
    assert read is not None
    assert read == decode_then_encode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"a=%2b",  # lower-case escape: re-encoded upper-case
        b"a=%41",  # an unreserved byte escaped
        b"a=%C3",  # not UTF-8
        b"a=%2",  # truncated escape
        b"a=b=c",  # '=' in a value
        b"a",  # no '='
        b"a=1&&b=2",  # empty pair, which the decoder skips
        b"a=*",  # a byte outside canonical form
        b"a=\xc3\xbc",  # raw UTF-8
        b"a=%33%3%331",  # a '%' followed by '3%': decoding '%33' first must not hide it
        b"a=%2B%%2B3D",  # a lone '%' between two escapes
        b"a=%C3%BC%2b",  # UTF-8 first, then a lower-case escape
    ],
)
def test_raw_canonical_query_leaves_the_rest_to_the_old_path(raw: bytes) -> None:
    assert read_canonical_query(raw) is None


@pytest.mark.parametrize("byte", range(256))
def test_raw_canonical_query_reads_exactly_the_escapes_percent_encode_makes(byte: int) -> None:
    escaped = percent_encode_reference(chr(byte)) if byte < 0x80 else None
    for spelling in (f"%{byte:02X}", f"%{byte:02x}"):
        read = read_canonical_query(f"a=x{spelling}y".encode())
        if byte >= 0x80:
            assert read is None  # one byte of a UTF-8 sequence alone is not UTF-8
        elif spelling == escaped:
            assert read == ([("a", f"x{chr(byte)}y")], f"a=x{spelling}y")
        else:
            assert read is None  # lower case, or an unreserved byte escaped


def test_raw_canonical_query_decodes_percent_last() -> None:
    # '%25' decodes to '%', which must not start another escape with what follows it.
    assert read_canonical_query(b"a=%25%2541") == ([("a", "%%41")], "a=%25%2541")


def test_raw_canonical_query_sorts_by_decoded_pairs() -> None:
    # '@' (%40) sorts after '-' decoded, before it encoded: the order is the decoded one.
    query, canonical = read_canonical_query(b"b=1&a%40=2&a-=3&a=%20+")  # type: ignore[misc]
    assert query == [("b", "1"), ("a@", "2"), ("a-", "3"), ("a", "  ")]
    assert canonical == "a=%20%20&a-=3&a%40=2&b=1"
