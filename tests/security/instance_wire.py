"""Raw instance-API requests, signed the way ``alibabacloud-dkms-gcs`` signs them (the string to
sign of ``gateway/instance/signature.py``, RSASSA-PKCS1-v1_5 / SHA-256 under the client key),
for attacks the official SDK cannot make: floods from many threads, random client key ids,
a garbage signature. Each ``InstanceWire`` keeps one HTTPS connection per thread, as an
application's pool does.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ssl
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.protobuf.message import Message

from mamori.crypto.client_key import load_client_key_content
from mamori.gateway.instance.signature import string_to_sign
from mamori.wire import instance_api_pb2 as pb
from tests.compat.instance_sdks import Access
from tests.conftest import ServerProcess

API_VERSION = "dkms-gcs-0.2"


@dataclass(frozen=True, slots=True)
class Answer:
    """An instance-API answer: the HTTP status, and the Error protobuf's code when it failed."""

    status: int
    code: str
    body: bytes

    def message(self, response: type[Message]) -> Any:
        """The response protobuf of a 200."""
        assert self.status == 200, (self.status, self.code)
        return response.FromString(self.body)


@dataclass
class InstanceWire:
    """Signed instance-API requests with one client key (or none: a made-up id and a garbage
    signature), from ``source`` (a local address) when given."""

    server: ServerProcess
    client_key_id: str
    private_key: rsa.RSAPrivateKey | None
    source: str | None = None
    _local: threading.local = field(default_factory=threading.local, init=False)

    @classmethod
    def of(cls, server: ServerProcess, access: Access, source: str | None = None) -> InstanceWire:
        loaded = load_client_key_content(access.content, access.password)
        return cls(server, loaded.key_id, loaded.private_key, source)

    def _connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            context = ssl.create_default_context(cafile=str(self.server.ca_file))
            conn = http.client.HTTPSConnection(
                "127.0.0.1",
                self.server.tls_port,
                context=context,
                timeout=30,
                source_address=(self.source, 0) if self.source else None,
            )
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def headers(
        self, api: str, body: bytes, client_key_id: str | None = None, **extra: str
    ) -> dict[str, str]:
        """The signed headers of one request (``extra``: more ``x-kms-*`` headers, signed)."""
        date = formatdate(time.time(), usegmt=True)
        sha = hashlib.sha256(body).hexdigest().upper()
        kms = {
            "x-kms-apiversion": API_VERSION,
            "x-kms-apiname": api,
            "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
            "x-kms-acccesskeyid": client_key_id or self.client_key_id,
            **extra,
        }
        to_sign = string_to_sign("POST", sha, "application/x-protobuf", date, kms.items())
        if self.private_key is None:
            signature = b"\x00" * 256  # a garbage signature: never verifies
        else:
            signature = self.private_key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {
            "accept": "application/x-protobuf",
            "date": date,
            **kms,
            "content-type": "application/x-protobuf",
            "content-sha256": sha,
            "authorization": "Bearer " + base64.b64encode(signature).decode(),
        }

    def call(
        self, api: str, message: Message, *, client_key_id: str | None = None, **extra: str
    ) -> Answer:
        """One request on this thread's connection (reopened once if the server closed it)."""
        body = message.SerializeToString(deterministic=True)
        headers = self.headers(api, body, client_key_id, **extra)
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        if response.status == 200:
            return Answer(200, "", payload)
        error = pb.Error.FromString(payload)
        return Answer(response.status, error.ErrorCode, payload)

    def encrypt(
        self, key_id: str, plaintext: bytes = b"x", client_key_id: str | None = None
    ) -> Answer:
        request = pb.EncryptRequest(KeyId=key_id, Plaintext=plaintext)
        return self.call("Encrypt", request, client_key_id=client_key_id)


def flood(seconds: float, threads: int, work: Callable[[], Any]) -> list[Any]:
    """Call ``work`` from ``threads`` threads for ``seconds``; every result."""
    results: list[Any] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        mine = []
        while time.monotonic() < deadline:
            mine.append(work())
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 60)
    return results


def paced(count: int, interval: float, work: Callable[[], Answer]) -> list[tuple[float, Answer]]:
    """``count`` calls of ``work``, each ``interval`` seconds after the last one's answer:
    (latency, answer) each. Never sooner: a call delayed by a busy machine must not be followed
    at once by the next, which a throttle at 1/``interval`` per second would rightly refuse."""
    out: list[tuple[float, Answer]] = []
    next_at = time.monotonic()
    for _ in range(count):
        time.sleep(max(0.0, next_at - time.monotonic()))
        started = time.perf_counter()
        answer = work()
        out.append((time.perf_counter() - started, answer))
        next_at = time.monotonic() + interval
    return out


def median_ms(latencies: list[float]) -> float:
    return statistics.median(latencies) * 1000


def quantile_ms(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000
