"""What the sync and async clients share: where to connect, how a call is signed, how an
answer is read. The two clients only send."""

from __future__ import annotations

import ipaddress
import json
import random
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn, Protocol

from mamori.client._signing import sign

if TYPE_CHECKING:
    # The clients load httpx; what they share here only names its types (and raises its
    # timeout), so `mamori` commands that call no server start without it.
    import httpx

KMS = "2016-01-20"
RAM = "2015-05-01"
STS = "2015-04-01"

Protocol_ = Literal["http", "https"]


class MamoriError(Exception):
    """The server refused a call: its error code, message, HTTP status and request id."""

    def __init__(self, code: str, message: str, status: int, request_id: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Retry:
    """How often and how long to wait before repeating a call the server refused for
    throttling (``Rejected.Throttling``, ``Throttling…``): "full jitter" exponential backoff,
    each wait drawn uniformly from 0 … min(``cap``, ``base`` × 2ⁿ). The refusal came before
    the server did anything, so repeating any action is safe. ``Retry(attempts=1)`` never
    repeats."""

    attempts: int = 4
    base: float = 0.1
    cap: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0:
            raise ValueError("attempts must be at least 1, base and cap not negative")

    def delays(self) -> Iterator[float]:
        """The waits before the second, third, … attempt."""
        for n in range(self.attempts - 1):
            yield random.uniform(0, min(self.cap, self.base * 2**n))


def throttled(error: MamoriError) -> bool:
    """Whether ``error`` is a refusal for throttling, worth repeating after a wait."""
    return error.code == "Rejected.Throttling" or error.code.startswith("Throttling")


class Credential(Protocol):
    """One set of credentials; ``alibabacloud_credentials.models.CredentialModel`` fits."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def access_key_secret(self) -> str: ...

    @property
    def security_token(self) -> str | None: ...


class CredentialSource(Protocol):
    """Where an async client takes its credentials from on each call (they may rotate);
    ``alibabacloud_credentials.client.Client`` — the official chain — fits."""

    async def get_credential_async(self) -> Credential:
        """The credentials to sign the next call with."""
        ...


def endpoint_host(endpoint: str) -> str:
    """The host of ``HOST:PORT`` (``[v6]:PORT`` or a bare host too), without brackets."""
    if endpoint.startswith("["):
        return endpoint[1:].partition("]")[0]
    if endpoint.count(":") > 1:  # a bare IPv6 address
        return endpoint
    return endpoint.rpartition(":")[0] if ":" in endpoint else endpoint


def loopback(endpoint: str) -> bool:
    """Whether ``endpoint`` names this machine's loopback (``localhost``, 127.0.0.0/8, ::1):
    the only place plain HTTP goes without being asked for."""
    host = endpoint_host(endpoint).lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(endpoint: str, protocol: Protocol_ | None, ca_file: Path | None) -> str:
    """``scheme://endpoint``; without a protocol, plain HTTP only to a loopback address with
    no CA file given, HTTPS to anything else (an AccessKey's requests and the answers'
    plaintexts never cross a network in clear unless ``protocol="http"`` says so)."""
    scheme = protocol or ("http" if loopback(endpoint) and not ca_file else "https")
    return f"{scheme}://{endpoint}"


def verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """Trust ``ca_file`` alone when given, the system's roots otherwise."""
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True


def prepare(
    host: str,
    action: str,
    version: str,
    params: dict[str, Any],
    access_key_id: str,
    secret: str,
    security_token: str | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The query and signed headers of one call; parameters are sent as strings (booleans
    as ``true``/``false``, None left out)."""
    query = {k: _wire(v) for k, v in params.items() if v is not None}
    headers = sign(
        host=host,
        action=action,
        version=version,
        query=query,
        access_key_id=access_key_id,
        secret=secret,
        security_token=security_token,
    )
    return query, headers


# Far above any KMS answer (a secret value is at most 64 KiB): what an answer may grow a
# client to, whatever the server says or sends.
MAX_ANSWER_BYTES: Final = 4 * 1024 * 1024


class AnswerBody:
    """An answer's body read to at most ``MAX_ANSWER_BYTES`` and within ``timeout`` seconds
    in all: httpx bounds each read, not the whole body, so a server sending a byte at a time
    would otherwise hold a call for ever."""

    __slots__ = ("_chunks", "_deadline", "_size", "_status", "_timeout")

    def __init__(self, response: httpx.Response, timeout: float) -> None:
        self._status = response.status_code
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._chunks: list[bytes] = []
        self._size = 0
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            self._too_large()

    def add(self, chunk: bytes) -> None:
        """One more chunk of the body; raises when the body is past either bound."""
        self._size += len(chunk)
        if self._size > MAX_ANSWER_BYTES:
            self._too_large()
        if time.monotonic() > self._deadline:
            import httpx  # loaded already: only a client's answer gets here

            raise httpx.ReadTimeout(f"the answer took longer than {self._timeout} s")
        self._chunks.append(chunk)

    @property
    def content(self) -> bytes:
        """The whole body."""
        return b"".join(self._chunks)

    def _too_large(self) -> NoReturn:
        raise MamoriError(
            "InvalidResponse",
            f"the answer is larger than {MAX_ANSWER_BYTES} bytes",
            self._status,
            "",
        )


def read_answer(response: httpx.Response, timeout: float) -> bytes:
    """The body of a streamed answer, within ``AnswerBody``'s bounds."""
    body = AnswerBody(response, timeout)
    for chunk in response.iter_bytes():
        body.add(chunk)
    return body.content


async def aread_answer(response: httpx.Response, timeout: float) -> bytes:
    """``read_answer``, awaited."""
    body = AnswerBody(response, timeout)
    async for chunk in response.aiter_bytes():
        body.add(chunk)
    return body.content


def parse(status: int, content: bytes) -> dict[str, Any]:
    """The JSON body of a 2xx answer; ``MamoriError`` for an error or a body that is not JSON."""
    try:
        body = json.loads(content)
    except ValueError as exc:
        text = content[:200].decode("utf-8", errors="replace")
        raise MamoriError("InvalidResponse", text, status, "") from exc
    if not isinstance(body, dict):
        raise MamoriError("InvalidResponse", "the answer is not a JSON object", status, "")
    if status >= 400:
        raise MamoriError(
            str(body.get("Code", "")),
            str(body.get("Message", "")),
            status,
            str(body.get("RequestId", "")),
        )
    return body


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
