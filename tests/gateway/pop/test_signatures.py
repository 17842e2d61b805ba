"""Signature verification against vectors made by the official SDKs, and every rejection."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_tea_openapi.utils import Utils
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.api.errors import ApiError
from mamori.gateway.pop import acs3, rpc_v1_hmac_sha1
from mamori.gateway.pop.request import PopRequest, parse_pop_request, refuse_foreign_body
from mamori.gateway.pop.signature import (
    Claim,
    check_freshness,
    parse_timestamp,
    read_claim,
    verify,
)

VECTORS_FILE = Path(__file__).parents[2] / "vectors" / "signatures.json"
DOCUMENT: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
BY_NAME = {vector["name"]: vector for vector in VECTORS}
# The KMS docs' V1 example has no SignatureNonce, so read_claim rightly refuses it.
CLAIMABLE = [vector for vector in VECTORS if vector["name"] != "spec-v1-docs-example"]
HEADER_STYLES = {"ACS3-HMAC-SHA256", "ACS4-HMAC-SHA256"}
V1_CONTROL = {"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "Timestamp"}


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [vector["name"] for vector in vectors]


def build(vector: dict[str, Any], **changes: Any) -> PopRequest:
    """Parse a vector as the ASGI layer would; ``changes`` override its raw fields."""
    raw = {**vector, **changes}
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in raw["headers"]]
    return parse_pop_request(
        raw["method"],
        raw["path"],
        raw["raw_query"].encode(),
        headers,
        raw["body"].encode("utf-8"),
    )


def with_header(vector: dict[str, Any], name: str, value: str | None) -> PopRequest:
    """The vector's request with header ``name`` replaced (or removed when ``value`` is None)."""
    headers = [[n, v] for n, v in vector["headers"] if n.lower() != name]
    if value is not None:
        headers.append([name, value])
    return build(vector, headers=headers)


def with_params(vector: dict[str, Any], **params: str | None) -> PopRequest:
    """The vector's request with query parameters replaced (None removes one)."""
    req = build(vector)
    query = [(n, v) for n, v in req.query if n not in params]
    query += [(n, v) for n, v in params.items() if v is not None]
    return build(vector, raw_query=urlencode(query))


def flip(text: str) -> str:
    """``text`` with its last character changed (or one added when it is empty)."""
    if not text:
        return "x"
    return text[:-1] + ("b" if text[-1] == "a" else "a")


def header(vector: dict[str, Any], name: str) -> str:
    return str(next(value for n, value in vector["headers"] if n.lower() == name))


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as info:
        call(*args)
    return info.value.code


def test_vectors_name_their_sdk_versions() -> None:
    assert DOCUMENT["generated_by"]["alibabacloud-tea-openapi"] == "0.4.6"
    assert DOCUMENT["generated_by"]["aliyun-python-sdk-core"] == "2.16.1"
    assert {vector["style"] for vector in VECTORS} == HEADER_STYLES | {"HMAC-SHA1"}


def test_spec_vectors_reproduce_the_published_signatures() -> None:
    acs3_auth = header(BY_NAME["spec-acs3-test-vector"], "authorization")
    assert acs3_auth.endswith(
        "Signature=776ccc1e1c2ea51dc311c2a2569c09006313867a9ee0bf9e5ea8ea9c8d1789e6"
    )
    v1 = build(BY_NAME["spec-v1-docs-example"])
    assert dict(v1.query)["Signature"] == "41wk2SSX1GJh7fwnc5eqOfiJPFg="


@pytest.mark.parametrize("vector", CLAIMABLE, ids=ids(CLAIMABLE))
def test_sdk_vector_is_accepted(vector: dict[str, Any]) -> None:
    req = build(vector)
    claim = read_claim(req)
    assert claim.style == vector["style"]
    assert claim.access_key_id == vector["access_key_id"]
    assert claim.security_token == vector["security_token"]
    if vector["kind"] == "wire":
        assert claim.timestamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert claim.version == "2016-01-20"
        assert len(claim.nonce) == 32
    verify(claim, req, vector["access_key_secret"])


def test_docs_v1_example_is_accepted_once_claimed() -> None:
    vector = BY_NAME["spec-v1-docs-example"]
    req = build(vector)
    assert code_of(read_claim, req) == "MissingSignatureNonce"
    claim = Claim(
        style="HMAC-SHA1",
        access_key_id="testid",
        security_token=None,
        nonce="",
        timestamp=parse_timestamp("2016-03-28T03:13:08Z"),
        action="CreateKey",
        version="2016-01-20",
        signature="41wk2SSX1GJh7fwnc5eqOfiJPFg=",
    )
    verify(claim, req, "testsecret")
    assert code_of(verify, claim, req, "testsecreT") == "SignatureDoesNotMatch"


@pytest.mark.parametrize("vector", CLAIMABLE, ids=ids(CLAIMABLE))
def test_tampered_secret_is_rejected(vector: dict[str, Any]) -> None:
    req = build(vector)
    claim = read_claim(req)
    secret = vector["access_key_secret"]
    with pytest.raises(ApiError) as info:
        verify(claim, req, flip(secret))
    assert info.value.code == "SignatureDoesNotMatch"
    assert secret not in info.value.message
    assert ":" in info.value.message
    if vector["style"] == "HMAC-SHA1":
        # Exactly the old SDK's test (AcsClient._get_server_exception): the tail after the first
        # ':' is its own string to sign, so it reports InvalidAccessKeySecret to the user.
        tail = info.value.message.split(":")[1]
        assert tail == rpc_v1_hmac_sha1.string_to_sign(req.method, req.query + req.form)
        if "sdk_string_to_sign" in vector:
            assert tail == vector["sdk_string_to_sign"]


def _tamper_target(vector: dict[str, Any], req: PopRequest) -> tuple[str, int] | None:
    for where in ("query", "form"):
        for index, (name, _) in enumerate(getattr(req, where)):
            if name not in V1_CONTROL:
                return where, index
    return None


TAMPERABLE = [vector for vector in CLAIMABLE if _tamper_target(vector, build(vector)) is not None]


@pytest.mark.parametrize("vector", TAMPERABLE, ids=ids(TAMPERABLE))
def test_tampered_parameter_is_rejected(vector: dict[str, Any]) -> None:
    req = build(vector)
    target = _tamper_target(vector, req)
    assert target is not None
    where, index = target
    pairs: list[tuple[str, str]] = getattr(req, where)
    name, value = pairs[index]
    pairs[index] = (name, flip(value))
    if where == "form":
        # A form parameter lives in the body: for ACS3/ACS4 the payload hash catches it.
        req.body = urlencode(req.form).encode()
    else:
        # Tampered on the wire, as an attacker would: the canonical query is read from there.
        req = build(vector, raw_query=urlencode(pairs))
    claim = read_claim(req)
    expected = (
        "IncompleteSignature"
        if where == "form" and vector["style"] in HEADER_STYLES
        else "SignatureDoesNotMatch"
    )
    assert code_of(verify, claim, req, vector["access_key_secret"]) == expected


@pytest.mark.parametrize("vector", CLAIMABLE, ids=ids(CLAIMABLE))
def test_tampered_host_header(vector: dict[str, Any]) -> None:
    req = with_header(vector, "host", flip(header(vector, "host")))
    claim = read_claim(req)
    if vector["style"] in HEADER_STYLES:
        assert code_of(verify, claim, req, vector["access_key_secret"]) == "SignatureDoesNotMatch"
    else:
        verify(claim, req, vector["access_key_secret"])  # V1 signs no header at all


HEADER_SIGNED = [vector for vector in CLAIMABLE if vector["style"] in HEADER_STYLES]


@pytest.mark.parametrize("vector", HEADER_SIGNED, ids=ids(HEADER_SIGNED))
def test_tampered_signed_x_acs_header_is_rejected(vector: dict[str, Any]) -> None:
    req = with_header(vector, "x-acs-action", flip(header(vector, "x-acs-action")))
    assert code_of(verify, read_claim(req), req, vector["access_key_secret"]) == (
        "SignatureDoesNotMatch"
    )


@pytest.mark.parametrize("vector", HEADER_SIGNED, ids=ids(HEADER_SIGNED))
def test_tampered_body_is_rejected(vector: dict[str, Any]) -> None:
    req = build(vector, body=flip(vector["body"]))
    with pytest.raises(ApiError) as info:
        verify(read_claim(req), req, vector["access_key_secret"])
    assert info.value.code == "IncompleteSignature"
    assert "x-acs-content-sha256" in info.value.message


def test_tampered_v1_form_body_is_rejected() -> None:
    vector = BY_NAME["v1-new-sdk-put-secret-value-form-body"]
    assert vector["body"]
    req = build(vector, body=flip(vector["body"]))
    assert code_of(verify, read_claim(req), req, vector["access_key_secret"]) == (
        "SignatureDoesNotMatch"
    )


def test_raw_name_retry_is_what_accepts_the_python_sdk() -> None:
    vector = BY_NAME["acs3-raw-map-key-names"]
    req = build(vector)
    claim = read_claim(req)
    secret = vector["access_key_secret"].encode()
    spec_style = acs3.string_to_sign(acs3.canonical_request(req, claim.signed_headers))
    sdk_style = acs3.string_to_sign(
        acs3.canonical_request(req, claim.signed_headers, encode_names=False)
    )
    assert acs3.sign(secret, spec_style) != claim.signature
    assert acs3.sign(secret, sdk_style) == claim.signature
    verify(claim, req, vector["access_key_secret"])


def test_spec_encoded_names_are_accepted() -> None:
    vector = BY_NAME["acs3-raw-map-key-names"]
    req = build(vector)
    claim = read_claim(req)
    to_sign = acs3.string_to_sign(acs3.canonical_request(req, claim.signed_headers))
    resigned = replace(claim, signature=acs3.sign(b"other-secret", to_sign))
    verify(resigned, req, "other-secret")


# --- parse_pop_request ----------------------------------------------------------------------


def test_parse_pop_request_decodes_like_the_sdks_encode() -> None:
    req = parse_pop_request(
        "POST",
        "/",
        b"A=x+y%2Bz&B=&C&D=%C3%BC",
        [(b"Host", b"h:1"), (b"X-Dup", b"a"), (b"x-dup", b"b"), (b"user-agent", b"caf\xe9")],
        b"SecretData=p%40ss+word",
    )
    assert req.query == [("A", "x y+z"), ("B", ""), ("C", ""), ("D", "ü")]
    assert req.raw_query == "A=x+y%2Bz&B=&C&D=%C3%BC"
    assert req.headers == {"host": "h:1", "x-dup": "a,b", "user-agent": "café"}
    assert req.form == []  # no form content-type, no form parameters


@pytest.mark.parametrize(
    "headers",
    [[], [(b"content-type", b"application/json")], [(b"content-type", b"text/plain")]],
)
def test_a_body_that_is_not_a_form_is_refused_not_dropped(
    headers: list[tuple[bytes, bytes]],
) -> None:
    # Never read: its parameters would be dropped without a word. The gateway refuses it once
    # the signature is checked (an unsigned one still hears IncompleteSignature first).
    req = parse_pop_request("POST", "/", b"A=1", headers, b"EncryptionContext.a=b")
    assert req.foreign_body and req.form == []
    with pytest.raises(ApiError) as info:
        refuse_foreign_body(req)
    assert (info.value.code, info.value.status) == ("InvalidParameter", 400)
    assert "Content-Type" in info.value.message
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    refuse_foreign_body(parse_pop_request("POST", "/", b"A=1", form, b"B=2"))
    refuse_foreign_body(parse_pop_request("POST", "/", b"A=1", headers, b""))


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"],
)
def test_parse_pop_request_reads_a_form_body(content_type: str) -> None:
    headers = [(b"content-type", content_type.encode())]
    req = parse_pop_request("POST", "/", b"", headers, b"SecretData=p%40ss+word&Recipient=")
    assert req.form == [("SecretData", "p@ss word"), ("Recipient", "")]
    assert req.query == []


def test_parse_pop_request_survives_bytes_that_are_not_utf8() -> None:
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    req = parse_pop_request("POST", "/", b"K=%FF\xff", headers, b"S=%FE\xfe")
    assert req.query == [("K", "\ufffd\ufffd")]
    assert req.form == [("S", "\ufffd\ufffd")]


# --- read_claim rejections -----------------------------------------------------------------

ACS3_VECTOR = BY_NAME["acs3-encrypt-context"]
ACS4_VECTOR = BY_NAME["acs4-encrypt-center"]
V1_VECTOR = BY_NAME["v1-old-sdk-encrypt"]


def _auth(vector: dict[str, Any], old: str, new: str) -> PopRequest:
    return with_header(vector, "authorization", header(vector, "authorization").replace(old, new))


def test_unsigned_request_is_incomplete() -> None:
    req = with_header(ACS3_VECTOR, "authorization", None)
    assert code_of(read_claim, req) == "IncompleteSignature"


@pytest.mark.parametrize(
    "value",
    [
        "Bearer abc",
        "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=00",
        "ACS3-HMAC-SHA256",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
        "ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=host,Signature=00",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=" + "z" * 64,
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=" + "é" * 64,
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=" + "0" * 64 + ",Extra=1",
    ],
)
def test_malformed_authorization_is_incomplete(value: str) -> None:
    assert code_of(read_claim, with_header(ACS3_VECTOR, "authorization", value)) == (
        "IncompleteSignature"
    )


def test_authorization_error_does_not_echo_the_header() -> None:
    with pytest.raises(ApiError) as info:
        read_claim(with_header(ACS3_VECTOR, "authorization", "Bearer top-secret-token"))
    assert "top-secret-token" not in info.value.message


@pytest.mark.parametrize(
    "name",
    [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ],
)
@pytest.mark.parametrize("vector", [ACS3_VECTOR, ACS4_VECTOR], ids=["acs3", "acs4"])
def test_required_header_not_signed_is_incomplete(vector: dict[str, Any], name: str) -> None:
    signed = header(vector, "authorization").split("SignedHeaders=")[1].split(",")[0]
    fewer = ";".join(n for n in signed.split(";") if n != name)
    req = _auth(vector, f"SignedHeaders={signed}", f"SignedHeaders={fewer}")
    with pytest.raises(ApiError) as info:
        read_claim(req)
    assert info.value.code == "IncompleteSignature"
    assert name in info.value.message


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("x-acs-action", "MissingAction"),
        ("x-acs-signature-nonce", "MissingSignatureNonce"),
        ("x-acs-date", "IncompleteSignature"),
        ("x-acs-version", "IncompleteSignature"),
        ("host", "IncompleteSignature"),
        ("x-acs-content-sha256", "IncompleteSignature"),
        ("user-agent", "IncompleteSignature"),  # signed by the SDK, then dropped by a proxy
    ],
)
def test_missing_header(name: str, code: str) -> None:
    assert code_of(read_claim, with_header(ACS3_VECTOR, name, None)) == code


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-02 03:04:05Z",
        "2025-02-30T00:00:00Z",
        "2025-01-02T03:04:05",
        "",
        "2025-01-02T03:04:05.0Z",
    ],
)
def test_bad_x_acs_date(value: str) -> None:
    assert code_of(read_claim, with_header(ACS3_VECTOR, "x-acs-date", value)) == (
        "InvalidTimeStamp.Format"
    )


def test_unsigned_security_token_is_incomplete() -> None:
    req = with_header(ACS3_VECTOR, "x-acs-security-token", "token")
    assert code_of(read_claim, req) == "IncompleteSignature"


def test_accesskey_id_header_must_match_credential() -> None:
    vector = BY_NAME["acs3-sts-token"]
    req = with_header(vector, "x-acs-accesskey-id", "STS.other")
    assert code_of(read_claim, req) == "IncompleteSignature"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/20250102/", "/20250101/"),
        ("/aliyun_v4_request", "/aliyun_v3_request"),
        ("/center/", "//"),
        ("Credential=LTAI5tVectorKey0001/", "Credential=/"),
        ("Credential=LTAI5tVectorKey0001/", "Credential="),
    ],
)
def test_bad_acs4_scope_is_incomplete(old: str, new: str) -> None:
    req = _auth(ACS4_VECTOR, old, new)
    assert code_of(read_claim, req) == "IncompleteSignature"


def test_acs4_claim_carries_scope() -> None:
    claim = read_claim(build(BY_NAME["acs4-put-secret-value-region"]))
    assert claim.scope == ("20250102", "cn-hangzhou", "Kms")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"AccessKeyId": None}, "IncompleteSignature"),
        ({"AccessKeyId": ""}, "IncompleteSignature"),
        ({"Signature": ""}, "IncompleteSignature"),
        ({"Signature": "é"}, "IncompleteSignature"),
        ({"SignatureMethod": "HMAC-SHA256"}, "IncompleteSignature"),
        ({"SignatureMethod": None}, "IncompleteSignature"),
        ({"SignatureVersion": "2.0"}, "IncompleteSignature"),
        ({"SignatureType": "BEARERTOKEN"}, "IncompleteSignature"),
        ({"Action": None}, "MissingAction"),
        ({"SignatureNonce": None}, "MissingSignatureNonce"),
        ({"Version": None}, "MissingParameter"),
        ({"Timestamp": None}, "InvalidTimeStamp.Format"),
        ({"Timestamp": "2025-01-02T03:04:05+08:00"}, "InvalidTimeStamp.Format"),
        ({"Timestamp": "٢٠٢٥-01-02T03:04:05Z"}, "InvalidTimeStamp.Format"),  # non-ASCII digits
    ],
)
def test_v1_claim_rejections(params: dict[str, str | None], code: str) -> None:
    assert code_of(read_claim, with_params(V1_VECTOR, **params)) == code


@pytest.mark.parametrize(
    ("query", "body"),
    [(b"A=1&B=2&A=1", b""), (b"A=1", b"B=2&A=1"), (b"A=1", b"A=2")],
)
def test_a_parameter_named_twice_is_invalid(query: bytes, body: bytes) -> None:
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    with pytest.raises(ApiError) as info:
        parse_pop_request("POST", "/", query, form, body)
    assert info.value.code == "InvalidParameter"
    assert '"A"' in info.value.message


@pytest.mark.parametrize("name", [b"x-acs-signature-nonce", b"Authorization", b"content-type"])
def test_a_header_mamori_reads_given_twice_is_incomplete(name: bytes) -> None:
    with pytest.raises(ApiError) as info:
        parse_pop_request("POST", "/", b"", [(name, b"a"), (name, b"a")], b"")
    assert info.value.code == "IncompleteSignature"


def test_v1_signature_may_arrive_in_the_form_body() -> None:
    vector = BY_NAME["v1-new-sdk-put-secret-value-form-body"]
    req = build(vector)
    signature = [pair for pair in req.query if pair[0] == "Signature"]
    req.query = [pair for pair in req.query if pair[0] != "Signature"]
    req.form += signature
    verify(read_claim(req), req, vector["access_key_secret"])


# --- freshness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew", "fresh"),
    [
        (timedelta(0), True),
        (timedelta(minutes=15), True),
        (-timedelta(minutes=15), True),
        (timedelta(minutes=15, seconds=1), False),
        (-timedelta(minutes=15, seconds=1), False),
    ],
)
def test_check_freshness(skew: timedelta, fresh: bool) -> None:
    claim = read_claim(build(ACS3_VECTOR))
    now = claim.timestamp + skew
    if fresh:
        check_freshness(claim, now)
    else:
        assert code_of(check_freshness, claim, now) == "InvalidTimeStamp.Expired"


# --- properties against the SDKs' own signers ------------------------------------------------

values = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
# Names without '=', '&' or '%': the only ones whose raw-name form (the SDK's) is unambiguous.
raw_safe_names = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="=&%"), min_size=1, max_size=12
)


class _SdkRequest:
    def __init__(self, query: dict[str, str], headers: dict[str, str]) -> None:
        self.method = "POST"
        self.pathname = "/"
        self.query = query
        self.headers = headers


def _sdk_signed(query: dict[str, str], body: bytes) -> PopRequest:
    headers = {
        "host": "127.0.0.1:8080",
        "x-acs-action": "Encrypt",
        "x-acs-version": "2016-01-20",
        "x-acs-date": "2025-01-02T03:04:05Z",
        "x-acs-signature-nonce": "n" * 32,
        "x-acs-content-sha256": Utils.hex_encode(Utils.hash(body, "ACS3-HMAC-SHA256")),
        "user-agent": "agent with spaces",
    }
    if body:
        headers["content-type"] = "application/octet-stream"
    headers["Authorization"] = Utils.get_authorization(
        _SdkRequest(query, headers), "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], "AK", "sk"
    )
    raw_headers = [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    return parse_pop_request("POST", "/", urlencode(query).encode(), raw_headers, body)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(raw_safe_names, values, max_size=6), st.binary(max_size=64))
def test_acs3_accepts_whatever_the_sdk_signs(query: dict[str, str], body: bytes) -> None:
    req = _sdk_signed(query, body)
    verify(read_claim(req), req, "sk")


separator_names = st.builds(
    lambda head, sep, tail: head + sep + tail,
    st.text(max_size=4),
    st.sampled_from("=&%"),
    st.text(max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, values, max_size=4), separator_names, values)
def test_acs3_refuses_a_raw_name_that_could_spell_another_request(
    query: dict[str, str], name: str, value: str
) -> None:
    # The SDK signs names raw; a raw name with '=', '&' or '%' could spell several pairs or
    # another name's encoding, so that form is refused (a spec-encoded signature still works).
    req = _sdk_signed({**query, name: value}, b"")
    assert code_of(verify, read_claim(req), req, "sk") == "SignatureDoesNotMatch"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, values, max_size=6), st.sampled_from(["GET", "POST"]))
def test_v1_string_to_sign_matches_the_sdk(params: dict[str, str], method: str) -> None:
    params.pop("Signature", None)
    expected = Utils.get_rpcsignature(params, method, "secret")
    to_sign = rpc_v1_hmac_sha1.string_to_sign(method, params.items())
    assert rpc_v1_hmac_sha1.sign("secret", to_sign) == expected
