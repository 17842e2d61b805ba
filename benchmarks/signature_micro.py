"""Microbenchmark: read_claim + verify for a typical signed Encrypt (ACS3 and RPC V1).

    .venv/bin/python benchmarks/signature_micro.py

Requests are signed by the official SDK's own functions. Prints microseconds per call (best of
several timeit repeats); the target for ACS3 read_claim + verify is well under 15 µs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import timeit
from collections.abc import Callable
from urllib.parse import urlencode

from alibabacloud_tea_openapi.utils import Utils

from mamori.gateway.pop.canonical import canonical_query, canonical_query_reference
from mamori.gateway.pop.request import PopRequest, parse_pop_request
from mamori.gateway.pop.signature import read_claim, verify

AK = "LTAI5tBenchKey000001"
SECRET = "benchSecret0123456789abcdefABCDE"
QUERY = {
    "KeyId": "alias/payments",
    # A 32-byte data key: base64 with '+', '/' or '=' to encode, like real plaintexts.
    "Plaintext": base64.b64encode(hashlib.sha256(b"data key").digest()).decode(),
    "EncryptionContext": json.dumps(
        {"tenant": "acme", "purpose": "card data"}, separators=(",", ":")
    ),
}


class _SdkRequest:
    def __init__(self, query: dict[str, str], headers: dict[str, str]) -> None:
        self.method = "POST"
        self.pathname = "/"
        self.query = query
        self.headers = headers


def acs3_request() -> PopRequest:
    """A new-SDK-shaped Encrypt, signed with ``Utils.get_authorization``."""
    headers = {
        "host": "127.0.0.1:8080",
        "x-acs-version": "2016-01-20",
        "x-acs-action": "Encrypt",
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-date": "2025-01-02T03:04:05Z",
        "x-acs-signature-nonce": hashlib.md5(b"bench").hexdigest(),
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-acs-credentials-provider": "static_ak",
    }
    headers["authorization"] = Utils.get_authorization(
        _SdkRequest(QUERY, headers), "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], AK, SECRET
    )
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"accept-encoding", b"identity"), (b"content-length", b"0")]
    return parse_pop_request("POST", "/", urlencode(QUERY).encode(), raw, b"")


def v1_request() -> PopRequest:
    """An old-SDK-shaped Encrypt, signed with ``Utils.get_rpcsignature``."""
    params = {
        **QUERY,
        "Action": "Encrypt",
        "Format": "JSON",
        "Version": "2016-01-20",
        "Timestamp": "2025-01-02T03:04:05Z",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "SignatureNonce": hashlib.md5(b"bench").hexdigest(),
        "AccessKeyId": AK,
        "RegionId": "cn-hangzhou",
    }
    params["Signature"] = Utils.get_rpcsignature(params, "POST", SECRET)
    raw = [(b"host", b"127.0.0.1:8080"), (b"x-acs-action", b"Encrypt")]
    return parse_pop_request("POST", "/", urlencode(params).encode(), raw, b"")


def per_call_us(func: Callable[[], object], number: int = 20_000) -> float:
    """Best-of-5 microseconds per call."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def report(label: str, req: PopRequest) -> None:
    """Print the per-call figures for one signed request."""
    claim = read_claim(req)
    verify(claim, req, SECRET)
    raw_query = req.raw_query.encode()
    raw_headers = [(k.encode(), v.encode()) for k, v in req.headers.items()]
    rows: list[tuple[str, Callable[[], object]]] = [
        ("parse_pop_request", lambda: parse_pop_request("POST", "/", raw_query, raw_headers, b"")),
        ("read_claim", lambda: read_claim(req)),
        ("verify", lambda: verify(claim, req, SECRET)),
        ("read_claim + verify", lambda: verify(read_claim(req), req, SECRET)),
    ]
    print(f"{label}:")
    for name, func in rows:
        print(f"  {name:22s}{per_call_us(func):6.2f} µs")


def main() -> None:
    """Print the figures."""
    report("ACS3-HMAC-SHA256 Encrypt", acs3_request())
    report("HMAC-SHA1 (RPC V1) Encrypt", v1_request())
    pairs = list(QUERY.items())
    print("canonical query of the Encrypt parameters:")
    print(f"  {'tuned':22s}{per_call_us(lambda: canonical_query(pairs)):6.2f} µs")
    print(f"  {'reference':22s}{per_call_us(lambda: canonical_query_reference(pairs)):6.2f} µs")


if __name__ == "__main__":
    main()
