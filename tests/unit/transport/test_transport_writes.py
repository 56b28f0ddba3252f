"""Writes are sent at most once; an unanswered write is ambiguous, never resent."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    BearerToken,
    CredentialSource,
    MemoryAuditSink,
    RetryPolicy,
    Transport,
)
from brokerlink.core.errors import (
    AuthError,
    BrokerConnectionError,
    BrokerUnavailableError,
    RateLimitError,
    Recovery,
    RequestTimeoutError,
)

from .support import RawServer, RecordingSleep, RefreshingToken, Reply, ScriptedApp, closed_port_url

pytestmark = pytest.mark.asyncio(loop_scope="module")

RawFactory = Callable[[str], Awaitable[tuple[RawServer, str]]]
ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
COID = "bl-0123456789abcdef"


def make(
    base_url: str,
    sleep: RecordingSleep,
    rng: random.Random,
    *,
    credentials: CredentialSource | None = None,
    timeout: httpx.Timeout | None = None,
    audit: MemoryAuditSink | None = None,
) -> Transport:
    return Transport(
        broker="alpaca",
        base_url=base_url,
        credentials=credentials or BearerToken(SecretStr("tok-write-0001")),
        retry=RetryPolicy(sleep=sleep, rng=rng),
        timeout=timeout,
        audit=audit,
        connection_id="conn-w",
    )


async def place(transport: Transport) -> httpx.Response:
    return await transport.request(
        "POST",
        "/v2/orders",
        operation="place_order",
        write=True,
        json={**ORDER, "client_order_id": COID},
        client_order_id=COID,
        bucket="default",
    )


async def test_write_is_not_retried_on_5xx(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("POST", "/v2/orders", Reply(503), Reply(200, json={"id": "never-reached"}))
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(BrokerUnavailableError):
            await place(transport)

    assert app.count("POST", "/v2/orders") == 1
    assert sleep.delays == []


@pytest.mark.parametrize("status", [500, 502])
async def test_server_error_on_write_is_ambiguous(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random, status: int
) -> None:
    # A 500 or 502 may come after the broker already accepted the order: reconcile, never
    # resend (a retryable error here would invite a duplicate).
    app.script("POST", "/v2/orders", Reply(status), Reply(200, json={"id": "never-reached"}))
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(RequestTimeoutError) as caught:
            await place(transport)
    assert caught.value.client_order_id == COID
    assert not caught.value.retryable
    assert app.count("POST", "/v2/orders") == 1


async def test_dropped_connection_after_accepting_write_is_ambiguous(
    raw_server_factory: RawFactory, sleep: RecordingSleep, rng: random.Random
) -> None:
    server, url = await raw_server_factory("drop")
    # The fault is real: a plain client sees the server hang up without answering.
    async with httpx.AsyncClient() as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post(f"{url}/v2/orders", json=ORDER)
    before = len(server.requests)

    audit = MemoryAuditSink()
    async with make(url, sleep, rng, audit=audit) as transport:
        with pytest.raises(RequestTimeoutError) as caught:
            await place(transport)

    assert len(server.requests) - before == 1
    error = caught.value
    assert error.client_order_id == COID
    assert error.recovery is Recovery.RECONCILE
    assert isinstance(error.__cause__, httpx.RemoteProtocolError | httpx.ReadError)
    assert "do not resend" in str(error)
    assert COID in str(error)
    assert sleep.delays == []
    (event,) = audit.events
    assert (event.outcome, event.status, event.client_order_id) == (
        "RequestTimeoutError",
        None,
        COID,
    )
    assert event.write


async def test_read_timeout_on_write_is_ambiguous(
    raw_server_factory: RawFactory, sleep: RecordingSleep, rng: random.Random
) -> None:
    server, url = await raw_server_factory("hang")
    timeout = httpx.Timeout(2.0, read=0.05)
    async with make(url, sleep, rng, timeout=timeout) as transport:
        with pytest.raises(RequestTimeoutError) as caught:
            await place(transport)

    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert caught.value.client_order_id == COID
    assert len(server.requests) == 1


async def test_dropped_connection_on_read_is_retried_then_connection_error(
    raw_server_factory: RawFactory, sleep: RecordingSleep, rng: random.Random
) -> None:
    server, url = await raw_server_factory("drop")
    async with make(url, sleep, rng) as transport:
        with pytest.raises(BrokerConnectionError):
            await transport.request("GET", "/v2/orders", operation="get_orders", write=False)

    assert len(server.requests) == 4


async def test_connect_refused_on_write_says_nothing_was_sent(
    sleep: RecordingSleep, rng: random.Random
) -> None:
    async with make(closed_port_url(), sleep, rng) as transport:
        with pytest.raises(BrokerConnectionError) as caught:
            await place(transport)

    assert not isinstance(caught.value, RequestTimeoutError)
    assert "Nothing was sent" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert sleep.delays == []


async def test_429_on_write_is_raised_without_retry(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script(
        "POST",
        "/v2/orders",
        Reply(
            429,
            json={"code": 42910000, "message": "rate limit exceeded"},
            headers={"Retry-After": "2"},
        ),
    )
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(RateLimitError) as caught:
            await place(transport)

    assert caught.value.retry_after == 2.0
    assert app.count("POST", "/v2/orders") == 1
    assert sleep.delays == []


@pytest.mark.parametrize("status", [408, 504])
async def test_gateway_timeout_on_write_is_ambiguous(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random, status: int
) -> None:
    app.script("POST", "/v2/orders", Reply(status, headers={"X-Request-ID": "gw-1"}))
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(RequestTimeoutError) as caught:
            await place(transport)

    assert (caught.value.http_status, caught.value.request_id) == (status, "gw-1")
    assert caught.value.client_order_id == COID
    assert app.count("POST", "/v2/orders") == 1


async def test_401_on_write_refreshes_but_does_not_resend(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("POST", "/v2/orders", Reply(401), Reply(200, json={}))
    credentials = RefreshingToken("tok-a-1111", "tok-b-2222")
    async with make(base_url, sleep, rng, credentials=credentials) as transport:
        with pytest.raises(AuthError):
            await place(transport)

    assert credentials.unauthorized_calls == 1
    assert app.count("POST", "/v2/orders") == 1


async def test_form_encoded_write_for_tradier(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("POST", "/v1/accounts/VA1/orders", Reply(json={"order": {"id": 1, "status": "ok"}}))
    async with make(base_url, sleep, rng) as transport:
        response = await transport.request(
            "POST",
            "/v1/accounts/VA1/orders",
            operation="place_order",
            write=True,
            data={"class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "1"},
            bucket="default",
        )

    assert response.status_code == 200
    (seen,) = app.requests
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(seen.body.decode()) == {
        "class": ["equity"],
        "symbol": ["AAPL"],
        "side": ["buy"],
        "quantity": ["1"],
    }


async def test_json_body_sends_decimals_as_strings(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("POST", "/v2/orders", Reply(json={"id": "o-1"}))
    order = {"symbol": "AAPL", "qty": Decimal("1.5"), "limit_price": Decimal("187.10")}
    async with make(base_url, sleep, rng) as transport:
        await transport.request(
            "POST",
            "/v2/orders",
            operation="place_order",
            write=True,
            json=order,
            headers={"content-type": "application/json; charset=utf-8"},
        )
        with pytest.raises(ValueError, match="not both"):
            await transport.request(
                "POST", "/v2/orders", operation="place_order", write=True, json={}, data={"a": 1}
            )

    (seen,) = app.requests
    assert json.loads(seen.body) == {"symbol": "AAPL", "qty": "1.5", "limit_price": "187.10"}
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
