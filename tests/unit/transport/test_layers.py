"""Each transport layer alone, around a fake next handler, and the whole transport over
an in-memory send port (no socket): the pieces are replaceable and testable apart."""

from __future__ import annotations

import gzip
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import BearerToken, MemoryAuditSink, RetryPolicy, Transport
from brokerlink.adapters._shared.layers import (
    AuditLayer,
    Call,
    ErrorMappingLayer,
    Origin,
    RateLimitLayer,
    ReadRetryLayer,
)
from brokerlink.adapters._shared.ratelimit import RateLimiter
from brokerlink.adapters._shared.redaction import SecretSet
from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerUnavailableError,
    InvalidOrderError,
    RequestTimeoutError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)

from .support import FakeClock, RecordingSleep

ORIGIN = Origin("alpaca", "conn-layers")
URL = httpx.URL("http://broker.invalid/v2/orders")


def _call(*, write: bool = False) -> Call:
    return Call(method="POST" if write else "GET", url=URL, operation="op", write=write,
                log_path="/v2/orders", client_order_id="bl-1" if write else None)


def _answer(status: int, body: bytes = b"{}", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers,
                          request=httpx.Request("GET", URL))


async def test_read_retry_repeats_transport_failures_of_reads_only() -> None:
    sleep = RecordingSleep()
    layer = ReadRetryLayer(RetryPolicy(sleep=sleep, rng=random.Random(1)), origin=ORIGIN)
    sent: list[Call] = []

    async def flaky(call: Call) -> httpx.Response:
        sent.append(call)
        if len(sent) < 3:
            call.answer = None
            raise BrokerConnectionError("down")
        return _answer(200)

    assert (await layer(_call(), flaky)).status_code == 200
    assert len(sent) == 3
    assert len(sleep.delays) == 2
    sent.clear()
    with pytest.raises(BrokerConnectionError):
        await layer(_call(write=True), flaky)
    assert len(sent) == 1


async def test_read_retry_does_not_repeat_an_unreadable_answer() -> None:
    layer = ReadRetryLayer(RetryPolicy(sleep=RecordingSleep()), origin=ORIGIN)
    attempts = 0

    async def unreadable(call: Call) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        call.answer = _answer(200)
        raise UnexpectedResponseError("garbage")

    with pytest.raises(UnexpectedResponseError):
        await layer(_call(), unreadable)
    assert attempts == 1


async def test_rate_limit_layer_pauses_the_bucket_for_the_servers_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 60.0, monotonic=clock.monotonic, sleep=clock.sleep)
    call = _call()
    call.limiter = limiter

    async def refused(call: Call) -> httpx.Response:
        call.answer = _answer(429)
        call.retry_after = 7.0
        raise BrokerUnavailableError("429")

    with pytest.raises(BrokerUnavailableError):
        await RateLimitLayer()(call, refused)
    assert limiter.paused_until == pytest.approx(clock.now + 7.0)


@pytest.mark.parametrize(("failure", "expected"), [
    (httpx.ConnectError("refused"), BrokerConnectionError),
    (httpx.ReadError("reset"), RequestTimeoutError),
    (httpx.ReadTimeout("slow"), RequestTimeoutError),
])
async def test_error_mapping_says_whether_a_write_could_have_left(
        failure: httpx.HTTPError, expected: type[Exception]) -> None:
    layer = ErrorMappingLayer(origin=ORIGIN, secrets=SecretSet())

    async def failing(call: Call) -> httpx.Response:
        raise failure

    with pytest.raises(expected) as raised:
        await layer(_call(write=True), failing)
    assert type(raised.value) is expected  # BrokerConnectionError must not be ambiguous


async def test_error_mapping_scrubs_known_secrets_and_survives_deep_bodies() -> None:
    secrets = SecretSet()
    secrets.remember(["Bearer tok-layer-secret-1"])
    layer = ErrorMappingLayer(origin=ORIGIN, secrets=secrets)

    async def deep(call: Call) -> httpx.Response:
        return _answer(400, b"[" * 50_000 + b'"tok-layer-secret-1"')

    with pytest.raises(InvalidOrderError) as raised:
        await layer(_call(), deep)
    assert "tok-layer-secret-1" not in str(raised.value)


async def test_audit_layer_records_the_outcome_once() -> None:
    sink = MemoryAuditSink()
    layer = AuditLayer(sink, origin=ORIGIN, secrets=SecretSet())

    async def fails(call: Call) -> httpx.Response:
        call.attempts = 2
        raise RequestTimeoutError("lost")

    with pytest.raises(RequestTimeoutError):
        await layer(_call(write=True), fails)
    (event,) = sink.events
    assert (event.outcome, event.attempts, event.write) == ("RequestTimeoutError", 2, True)


class MemoryPort:
    """An in-memory send port: answers every request with ``body`` streamed in chunks,
    counting how many bytes the transport pulled."""

    def __init__(self, status: int, body: bytes, *, chunk: int = 1024,
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.chunk = status, body, chunk
        self.headers = headers or {}
        self.pulled = 0
        self.requests: list[httpx.Request] = []

    async def _stream(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.chunk):
            part = self.body[start:start + self.chunk]
            self.pulled += len(part)
            yield part

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, headers=self.headers, content=self._stream(),
                              request=request)

    async def aclose(self) -> None:
        pass


def _transport(port: MemoryPort, cap: int = 10_000) -> Transport:
    return Transport(broker="alpaca", base_url="http://broker.invalid",
                     credentials=BearerToken(SecretStr("tok-memory-port-1")),
                     retry=RetryPolicy(sleep=RecordingSleep()), max_body_bytes=cap, port=port)


async def test_a_read_over_the_cap_stops_reading_and_is_unexpected() -> None:
    port = MemoryPort(200, b"[" + b"0," * 1_000_000 + b"0]")
    async with _transport(port) as transport:
        with pytest.raises(UnexpectedResponseError, match="too large"):
            await transport.get_json("/v2/positions", operation="get_positions")
    assert len(port.requests) == 1  # not retried
    assert port.pulled <= 10_000 + port.chunk


async def test_a_write_over_the_cap_is_an_unreadable_acknowledgement() -> None:
    port = MemoryPort(200, b"x" * 50_000)
    async with _transport(port) as transport:
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await transport.request("POST", "/v2/orders", operation="place_order", write=True,
                                    json={"qty": "1"}, client_order_id="bl-cap-1")
    assert raised.value.client_order_id == "bl-cap-1"
    assert "do not resend" in str(raised.value)


async def test_a_declared_length_over_the_cap_is_refused_unread() -> None:
    port = MemoryPort(200, b"x" * 50_000, headers={"Content-Length": "50000"})
    async with _transport(port) as transport:
        with pytest.raises(UnexpectedResponseError):
            await transport.request("GET", "/v2/account", operation="get_account", write=False)
    assert port.pulled == 0


async def test_a_decompression_bomb_is_capped_on_the_decoded_size() -> None:
    bomb = gzip.compress(b"0" * 5_000_000)
    port = MemoryPort(200, bomb, headers={"Content-Encoding": "gzip"})
    async with _transport(port) as transport:
        with pytest.raises(UnexpectedResponseError):
            await transport.request("GET", "/v2/account", operation="get_account", write=False)


async def test_an_encoded_body_under_the_cap_is_returned_decoded() -> None:
    port = MemoryPort(200, gzip.compress(b'{"cash": 1.50}'), headers={"Content-Encoding": "gzip"})
    async with _transport(port) as transport:
        assert await transport.get_json("/v2/account", operation="get_account") == \
            {"cash": Decimal("1.50")}
    assert transport.max_body_bytes == 10_000


@pytest.mark.parametrize("body", [b"[" * 100_000, b"\xff\xfe{}", b"<html>oops</html>"])
async def test_parse_json_types_an_unreadable_body_by_read_or_write(body: bytes) -> None:
    async with _transport(MemoryPort(200, body), cap=1_000_000) as transport:
        read = await transport.request("GET", "/v2/account", operation="get_account",
                                       write=False)
        with pytest.raises(UnexpectedResponseError):
            transport.parse_json(read, operation="get_account")
        write = await transport.request("POST", "/v2/orders", operation="place_order",
                                        write=True, json={})
        with pytest.raises(UnreadableAcknowledgementError):
            transport.parse_json(write, operation="place_order")
