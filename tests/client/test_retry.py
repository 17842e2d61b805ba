"""Throttled calls are repeated with jittered backoff. The throttling is injected by a transport
in front of the real server (the shared gateway itself does not throttle): the first answers are
the dedicated gateway's documented refusal, the rest come from the server."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from mamori.client import AsyncClient, Client, MamoriError, Retry
from tests.conftest import ServerProcess

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
THROTTLED = {"RequestId": "r", "Code": "Rejected.Throttling", "Message": "QPS Limit Exceeded"}


class Throttle(httpx.BaseTransport):
    """Refuses the first ``times`` requests with 429 Rejected.Throttling, then forwards."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.seen = 0
        self.real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.times:
            return httpx.Response(429, content=json.dumps(THROTTLED).encode())
        return self.real.handle_request(request)


class AsyncThrottle(httpx.AsyncBaseTransport):
    def __init__(self, times: int) -> None:
        self.times = times
        self.seen = 0
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.times:
            return httpx.Response(429, content=json.dumps(THROTTLED).encode())
        return await self.real.handle_async_request(request)


def test_backoff_waits_are_jittered_and_capped() -> None:
    waits = list(Retry(attempts=6, base=0.1, cap=0.25).delays())
    assert len(waits) == 5 and all(0 <= w <= 0.25 for w in waits)
    assert waits[0] <= 0.1
    assert len({round(w, 9) for w in Retry(attempts=50).delays()}) > 40  # jittered
    with pytest.raises(ValueError):
        Retry(attempts=0)


@sqlite_only
def test_a_throttled_call_is_repeated_until_it_passes(server: ServerProcess) -> None:
    throttle = Throttle(times=2)
    with Client(server.endpoint, server.access_key_id, server.access_key_secret,
                retry=Retry(attempts=3, base=0.01), transport=throttle) as client:  # fmt: skip
        assert client.call("DescribeRegions")["Regions"]
    assert throttle.seen == 3


@sqlite_only
def test_throttling_past_the_attempts_is_raised(server: ServerProcess) -> None:
    throttle = Throttle(times=5)
    with (
        Client(server.endpoint, server.access_key_id, server.access_key_secret,
               retry=Retry(attempts=3, base=0.01), transport=throttle) as client,
        pytest.raises(MamoriError) as caught,
    ):  # fmt: skip
        client.call("DescribeRegions")
    assert (caught.value.code, caught.value.status, throttle.seen) == (
        "Rejected.Throttling",
        429,
        3,
    )


@sqlite_only
def test_other_refusals_are_not_repeated(server: ServerProcess) -> None:
    throttle = Throttle(times=0)
    with (
        Client(server.endpoint, server.access_key_id, server.access_key_secret,
               retry=Retry(attempts=3, base=0.01), transport=throttle) as client,
        pytest.raises(MamoriError) as caught,
    ):  # fmt: skip
        client.call("DescribeKey", KeyId="key-missing")
    assert (caught.value.code, throttle.seen) == ("Forbidden.KeyNotFound", 1)


@sqlite_only
def test_the_async_client_retries_too(server: ServerProcess) -> None:
    throttle = AsyncThrottle(times=2)

    async def run() -> None:
        async with AsyncClient(
            server.endpoint,
            server.access_key_id,
            server.access_key_secret,
            retry=Retry(attempts=3, base=0.01),
            transport=throttle,
        ) as client:
            assert (await client.call("DescribeRegions"))["Regions"]

    asyncio.run(run())
    assert throttle.seen == 3
