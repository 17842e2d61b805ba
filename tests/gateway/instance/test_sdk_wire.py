"""The pieces together on a real socket: the official SDK, with a client key Mamori issued,
calls a throwaway stdlib HTTP server (in this test only) that verifies with
``gateway/instance/signature`` and answers with ``messages``/``errors``. What arrives on the
wire verifies, and the SDK reads both the response and the Error protobuf."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mamori.crypto.client_key import IssuedClientKey, issue_client_key, new_key_id
from mamori.gateway.instance.errors import InstanceApiError, error_body
from mamori.gateway.instance.messages import decode_request, encode
from mamori.gateway.instance.signature import check_freshness, read_claim, verify
from mamori.wire import instance_api_pb2 as pb
from tests.gateway.instance.dkms import b64, run_sdk, unb64

PASSWORD = "Wire-Test-Password_1"
VERSION_ID = "2f3c1e8a-9b7d-4c6e-8a5f-0d1e2c3b4a59"


class _Server(ThreadingHTTPServer):
    public_key: rsa.RSAPublicKey
    seen: list[tuple[list[tuple[str, str]], bytes]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        raw = list(self.headers.items())
        self.server.seen.append((raw, body))
        pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in raw]
        try:
            claim = read_claim(self.command, pairs, body)
            check_freshness(claim, datetime.now(UTC))
            verify(claim, self.server.public_key)
            request = decode_request(claim.api_name, body)
            assert isinstance(request, pb.EncryptRequest)
            response = pb.EncryptResponse(
                KeyId=request.KeyId,
                CiphertextBlob=request.Plaintext[::-1],
                Iv=b"\x01" * 12,
                RequestId="req-ok",
                Algorithm="AES_GCM",
            )
            self._send(200, encode(response), {"x-kms-migrationkeyversionid": VERSION_ID})
        except InstanceApiError as err:
            self._send(err.status, error_body(err.status, err.code, err.message, "req-err"), {})

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def issued() -> IssuedClientKey:
    now = datetime.now(UTC).replace(microsecond=0)
    return issue_client_key(
        new_key_id(), PASSWORD, now - timedelta(days=1), now + timedelta(days=1)
    )


@pytest.fixture
def server(issued: IssuedClientKey) -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.public_key = issued.public.public_key()
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _encrypt(python: Path, server: _Server, issued: IssuedClientKey) -> dict[str, Any]:
    return run_sdk(
        python,
        "call",
        endpoint=f"127.0.0.1:{server.server_address[1]}",
        client_key_content=issued.content,
        password=PASSWORD,
        api="Encrypt",
        method="encrypt",
        args={"key_id": "key-wire", "plaintext": b64(b"plain")},
        bytes_args=["plaintext"],
        response_headers=["x-kms-migrationkeyversionid"],
    )


def test_sdk_call_verifies_and_reads_the_response(
    dkms_python: Path, server: _Server, issued: IssuedClientKey
) -> None:
    result = _encrypt(dkms_python, server, issued)
    assert "error" not in result, result
    response = result["response"]
    assert response["KeyId"] == "key-wire"
    assert unb64(response["CiphertextBlob"]["b64"]) == b"nialp"
    assert response["RequestId"] == "req-ok" and response["Algorithm"] == "AES_GCM"
    assert response["responseHeaders"] == {"x-kms-migrationkeyversionid": VERSION_ID}
    ((headers, _),) = server.seen
    names = [name.lower() for name, _ in headers]
    assert "x-kms-acccesskeyid" in names and "content-sha256" in names


def test_sdk_reads_our_error(dkms_python: Path, server: _Server, issued: IssuedClientKey) -> None:
    server.public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    result = _encrypt(dkms_python, server, issued)
    assert result["error"] == {
        "code": "InvalidParam",
        "message": "The Param Authorization is invalid.",
        "data": {"httpCode": 400, "requestId": "req-err", "hostId": None},
    }
