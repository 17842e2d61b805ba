"""Fuzz targets: each feeds arbitrary bytes to one parser and lets only its documented errors
pass; any other exception is a crash (docs/security.md, "Parsers under fuzzing").

A target takes the fuzzer's bytes and shapes them with ``atheris.FuzzedDataProvider`` where a
parser takes several fields, so coverage guidance reaches past the first check. ``SEEDS`` gives
each target valid inputs to start from. ``benchmarks/fuzz.py`` runs them long;
``tests/fuzz/test_fuzz.py`` short, in ``make test``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import atheris
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.api.errors import ApiError
from mamori.api.params import load_json
from mamori.crypto import blob, envelope, envelope_stream
from mamori.crypto.aead import DecryptionFailed
from mamori.gateway.instance import signature as instance_signature
from mamori.gateway.instance.errors import InstanceApiError
from mamori.gateway.instance.messages import APIS, MalformedBody, decode_request
from mamori.gateway.pop import signature
from mamori.gateway.pop.canonical import (
    canonical_query,
    canonical_query_reference,
    percent_encode,
    percent_encode_reference,
    read_canonical_query,
)
from mamori.gateway.pop.request import parse_pop_request
from mamori.iam.conditions import MalformedPolicy, RequestContext
from mamori.iam.policy import NamedPolicy, evaluate, parse_policy

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
_AES = AESGCM(bytes(32))
_API_NAMES = sorted(APIS)
_STYLES = ("ACS3-HMAC-SHA256", "ACS4-HMAC-SHA256")


def pop_request(data: bytes) -> None:
    """The shared gateway's request: query/form decoding, the three signature styles' claims,
    canonicalisation and verification (``gateway/pop/request.py``, ``signature.py``,
    ``canonical.py``). Documented outcome: ``ApiError``."""
    fdp = atheris.FuzzedDataProvider(data)
    style = fdp.ConsumeIntInRange(0, 3)
    query = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
    headers = [
        (
            fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)),
            fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80)),
        )
        for _ in range(fdp.ConsumeIntInRange(0, 6))
    ]
    if style in (1, 2):
        # A header signature whose layout the fuzzer fills in, to get past the scheme check.
        fields = fdp.ConsumeUnicodeNoSurrogates(200)
        headers.append(
            (b"authorization", f"{_STYLES[style - 1]} {fields}".encode("utf-8", "replace"))
        )
    if fdp.ConsumeBool():
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
    if fdp.ConsumeBool():
        # The body hash a real client sends, so the payload check passes and verify runs on.
        headers.append((b"x-acs-content-sha256", hashlib.sha256(body).hexdigest().encode()))
    method = "POST" if fdp.ConsumeBool() else "GET"
    try:
        req = parse_pop_request(method, "/", query, headers, body)
        claim = signature.read_claim(req)
        signature.check_scope(claim, "cn-hangzhou", "kms")
        signature.check_freshness(claim, NOW)
        signature.verify(claim, req, "fuzz-secret")
    except ApiError:
        pass


def canonical(data: bytes) -> None:
    """The tuned canonicaliser agrees with the straightforward one on every input (a mismatch
    would let a signature cover something else than what is read)."""
    fdp = atheris.FuzzedDataProvider(data)
    pairs = [
        (fdp.ConsumeUnicode(20), fdp.ConsumeUnicode(40)) for _ in range(fdp.ConsumeIntInRange(0, 8))
    ]
    value = fdp.ConsumeUnicode(60)
    try:
        fast = percent_encode(value)
    except UnicodeEncodeError:
        fast = None  # a lone surrogate: neither form can encode it
    try:
        slow = percent_encode_reference(value)
    except UnicodeEncodeError:
        slow = None
    assert fast == slow, (value, fast, slow)
    for names in (True, False):
        try:
            fast = canonical_query(pairs, encode_names=names)
        except UnicodeEncodeError:
            fast = None
        try:
            slow = canonical_query_reference(pairs, encode_names=names)
        except UnicodeEncodeError:
            slow = None
        assert fast == slow, (pairs, fast, slow)


def ciphertext_blob(data: bytes) -> None:
    """Both blob formats (plain and Advance ``$ 00 02``), raw and base64
    (``crypto/blob.py``). Documented outcome: ``MalformedBlob``."""
    for parse in (blob.parse, lambda raw: blob.decode(raw.decode("latin-1"))):
        try:
            parsed = parse(data)
        except blob.MalformedBlob:
            continue
        assert blob.is_version_id(parsed.version_id) and len(parsed.iv) == 12


def policy(data: bytes) -> None:
    """Policy documents and their conditions, parsed and then evaluated (``iam/policy.py``,
    ``iam/conditions.py``). Documented outcome: ``MalformedPolicy`` at parse time; evaluation
    of a parsed policy never raises."""
    fdp = atheris.FuzzedDataProvider(data)
    resource_policy = fdp.ConsumeBool()
    source_ip = fdp.ConsumeUnicodeNoSurrogates(40)
    context = {fdp.ConsumeUnicodeNoSurrogates(10): fdp.ConsumeUnicodeNoSurrogates(20)}
    text = fdp.ConsumeUnicodeNoSurrogates(4000)
    try:
        parsed = parse_policy(text, resource_policy=resource_policy)
    except MalformedPolicy:
        return
    ctx = RequestContext(
        source_ip=source_ip,
        current_time=NOW,
        secure_transport=True,
        principal_arn="acs:ram::1234567890123456:user/alice",
        resource_tags={"env": "prod"},
        encryption_context=context,
    )
    evaluate(
        [NamedPolicy("fuzz", parsed)],
        "kms:Decrypt",
        "acs:kms:cn-hangzhou:1234567890123456:key/key-0123",
        ctx,
    )


def json_parameter(data: bytes) -> None:
    """The one reader of JSON parameters (EncryptionContext, Tags, policies' bodies), as the
    query/form decoder hands them over. Documented outcome: ``ApiError`` InvalidParameter."""
    with contextlib.suppress(ApiError):
        load_json("EncryptionContext", data.decode("utf-8", "replace"))


def instance_message(data: bytes) -> None:
    """The instance API's protobuf bodies (``gateway/instance/messages.py``). Documented
    outcome: ``MalformedBody``."""
    if not data:
        return
    name = _API_NAMES[data[0] % len(_API_NAMES)]
    with contextlib.suppress(MalformedBody):
        decode_request(name, data[1:])


def instance_signature_headers(data: bytes) -> None:
    """The instance API's signature headers (``gateway/instance/signature.py``). Documented
    outcome: ``InstanceApiError``."""
    fdp = atheris.FuzzedDataProvider(data)
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    headers = [
        (b"x-kms-apiversion", b"dkms-gcs-0.2"),
        (b"x-kms-apiname", fdp.ConsumeBytes(16)),
        (b"x-kms-signaturemethod", b"RSA_PKCS1_SHA_256"),
        (b"date", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))),
        (b"content-sha256", hashlib.sha256(body).hexdigest().upper().encode()),
        (b"x-kms-acccesskeyid", fdp.ConsumeBytes(24)),
        (b"authorization", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 120))),
    ]
    # Drop or garble some of them, and add the fuzzer's own.
    headers = [h for h in headers if fdp.ConsumeIntInRange(0, 7)]
    headers += [
        (fdp.ConsumeBytes(20), fdp.ConsumeBytes(40)) for _ in range(fdp.ConsumeIntInRange(0, 3))
    ]
    try:
        claim = instance_signature.read_claim("POST", headers, body)
        instance_signature.check_freshness(claim, NOW)
    except InstanceApiError:
        pass


def agent_envelope(data: bytes) -> None:
    """The agent's envelope, whole (version 1) and streamed (version 2), header and first
    chunk (``crypto/envelope.py``, ``envelope_stream.py``). Documented outcomes:
    ``MalformedEnvelope``, and ``DecryptionFailed`` for whatever parses."""
    try:
        parsed = envelope.parse(data)
        envelope.open_envelope(_AES, parsed)
    except (envelope.MalformedEnvelope, DecryptionFailed):
        pass
    stream = io.BytesIO(data)
    try:
        head = envelope_stream.read_stream_header(stream.read)
        chunk = stream.read(head.sealed_chunk_size)
        envelope_stream.open_chunk(_AES, head, 0, chunk, last=len(chunk) < head.sealed_chunk_size)
    except (envelope.MalformedEnvelope, DecryptionFailed):
        pass


def raw_canonical(data: bytes) -> None:
    """The canonical query read from the raw query bytes, wherever that path takes the query,
    equals the decoded query's re-encoded one (a mismatch would let a signature cover other
    values than the ones read)."""
    read = read_canonical_query(data)
    if read is not None:
        text = data.decode("utf-8", "replace")
        query = parse_qsl(text, keep_blank_values=True) if text else []
        assert read == (query, canonical_query(query)), (data, read)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "pop_request": pop_request,
    "canonical": canonical,
    "raw_canonical": raw_canonical,
    "ciphertext_blob": ciphertext_blob,
    "policy": policy,
    "json_parameter": json_parameter,
    "instance_message": instance_message,
    "instance_signature": instance_signature_headers,
    "agent_envelope": agent_envelope,
}


def _policy_seed() -> bytes:
    document = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt"],
                "Resource": ["acs:kms:*:*:key/*"],
                "Condition": {
                    "IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]},
                    "StringEquals": {"kms:EncryptionContext/app": "x"},
                    "DateLessThan": {"acs:CurrentTime": "2030-01-01T00:00:00Z"},
                    "Bool": {"acs:SecureTransport": "true"},
                },
            }
        ],
    }
    return b"\x00" * 8 + json.dumps(document).encode()


_VERSION = b"01234567-89ab-cdef-0123-456789abcdef"
SEEDS: dict[str, list[bytes]] = {
    "pop_request": [
        b"\x01" + b"Action=Encrypt&KeyId=key-1&Version=2016-01-20&Signature=abc&AccessKeyId=LTAI",
        b"\x02Credential=LTAI,SignedHeaders=host;x-acs-date,Signature=00ff",
    ],
    "canonical": [b"Action\x00Encrypt\x00KeyId\x00alias/a b"],
    "raw_canonical": [
        b"KeyId=alias%2Fa&Plaintext=aGk%2B%2F%3D&EncryptionContext=%7B%22a%22%3A%22b+c%C3%BC%22%7D"
    ],
    "ciphertext_blob": [
        _VERSION + bytes(12) + bytes(20),
        b"$\x00\x02" + _VERSION + bytes(12) + bytes(20),
        base64.b64encode(_VERSION + bytes(40)),
    ],
    "policy": [_policy_seed()],
    "json_parameter": [b'{"app":"x","n":"1"}', b"[1,2,{}]"],
    "instance_message": [b"\x00\x0a\x05key-1\x12\x03abc"],
    "instance_signature": [b"\x00" * 64],
    "agent_envelope": [
        envelope.header(b'{"a":"b"}', b"w" * 40) + bytes(12) + bytes(16),
        envelope_stream.new_header(b"", b"w" * 40) + bytes(64),
    ],
}
