"""Reads over a real loopback server: retries, Retry-After, 401 refresh, JSON decimals."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    AuditSink,
    BearerToken,
    CredentialSource,
    MemoryAuditSink,
    RetryPolicy,
    Transport,
)
from brokerlink.core.errors import (
    AuthError,
    BrokerConnectionError,
    BrokerError,
    BrokerUnavailableError,
    RateLimitError,
)
from brokerlink.core.values import utc_now

from .conftest import ServeApp
from .support import RecordingSleep, RefreshingToken, Reply, ScriptedApp, closed_port_url

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = SecretStr("tok-read-0001")


def make(
    base_url: str,
    sleep: RecordingSleep,
    rng: random.Random,
    *,
    credentials: CredentialSource | None = None,
    audit: AuditSink | None = None,
) -> Transport:
    return Transport(
        broker="alpaca",
        base_url=base_url,
        credentials=credentials or BearerToken(TOKEN),
        retry=RetryPolicy(sleep=sleep, rng=rng),
        audit=audit,
        connection_id="conn-1",
    )


async def test_read_is_retried_after_5xx_then_succeeds(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v2/account", Reply(503), Reply(502), Reply(200, json={"status": "ACTIVE"}))
    audit = MemoryAuditSink()
    async with make(base_url, sleep, rng, audit=audit) as transport:
        response = await transport.request(
            "GET", "/v2/account", operation="get_account", write=False
        )

    assert response.status_code == 200
    assert app.count("GET", "/v2/account") == 3
    # Full jitter: each delay lies in [0, base * 2**n].
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.2
    assert 0 <= sleep.delays[1] <= 0.4
    (event,) = audit.events
    assert (event.attempts, event.status, event.outcome) == (3, 200, "ok")


async def test_read_gives_up_after_max_attempts_with_typed_error(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script(
        "GET", "/v2/clock", Reply(500, json={"message": "boom"}, headers={"X-Request-ID": "r-9"})
    )
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(BrokerUnavailableError) as caught:
            await transport.request("GET", "/v2/clock", operation="get_clock", write=False)

    assert app.count("GET", "/v2/clock") == 4
    assert len(sleep.delays) == 3
    error = caught.value
    assert (error.http_status, error.request_id, error.broker) == (500, "r-9", "alpaca")
    assert error.connection_id == "conn-1"
    assert "boom" in str(error)


async def test_429_retry_after_seconds_is_honoured(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script(
        "GET",
        "/v2/orders",
        Reply(
            429,
            json={"code": 42910000, "message": "rate limit exceeded"},
            headers={"Retry-After": "3"},
        ),
        Reply(200, json=[]),
    )
    async with make(base_url, sleep, rng) as transport:
        response = await transport.request("GET", "/v2/orders", operation="get_orders", write=False)

    assert response.status_code == 200
    assert sleep.delays == [3.0]


async def test_429_retry_after_http_date_is_honoured(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    when = format_datetime(utc_now() + timedelta(seconds=10), usegmt=True)
    app.script("GET", "/v2/orders", Reply(429, headers={"Retry-After": when}), Reply(200, json=[]))
    async with make(base_url, sleep, rng) as transport:
        await transport.request("GET", "/v2/orders", operation="get_orders", write=False)

    (delay,) = sleep.delays
    # The date has one-second resolution and a little time passes before it is read.
    assert 8.0 < delay <= 10.0


async def test_429_asking_for_too_long_a_wait_is_raised_not_slept(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v2/orders", Reply(429, headers={"Retry-After": "3600"}))
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(RateLimitError) as caught:
            await transport.request("GET", "/v2/orders", operation="get_orders", write=False)

    assert caught.value.retry_after == 3600.0
    assert caught.value.retryable
    assert sleep.delays == []
    assert app.count("GET", "/v2/orders") == 1


async def test_read_connect_refused_is_retried_then_raised_as_connection_error(
    sleep: RecordingSleep, rng: random.Random
) -> None:
    async with make(closed_port_url(), sleep, rng) as transport:
        with pytest.raises(BrokerConnectionError) as caught:
            await transport.request("GET", "/v2/account", operation="get_account", write=False)

    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(sleep.delays) == 3


async def test_401_refreshes_credentials_and_retries_read_once(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v1/user/profile", Reply(401), Reply(200, json={"profile": {}}))
    credentials = RefreshingToken("old-token-1", "new-token-2")
    async with make(base_url, sleep, rng, credentials=credentials) as transport:
        response = await transport.request(
            "GET", "/v1/user/profile", operation="get_profile", write=False
        )

    assert response.status_code == 200
    assert credentials.unauthorized_calls == 1
    sent = [r.headers["authorization"] for r in app.requests]
    assert sent == ["Bearer old-token-1", "Bearer new-token-2"]
    assert sleep.delays == []


async def test_401_after_refresh_is_raised_not_retried_again(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v1/user/profile", Reply(401, json={"message": "unauthorized."}))
    credentials = RefreshingToken("t-one-1", "t-two-2", "t-three-3")
    async with make(base_url, sleep, rng, credentials=credentials) as transport:
        with pytest.raises(AuthError):
            await transport.request("GET", "/v1/user/profile", operation="get_profile", write=False)

    assert credentials.unauthorized_calls == 1
    assert app.count("GET", "/v1/user/profile") == 2


async def test_401_with_static_credentials_is_an_auth_error(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v2/account", Reply(401, json={"message": "unauthorized."}))
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(AuthError) as caught:
            await transport.request("GET", "/v2/account", operation="get_account", write=False)

    assert caught.value.http_status == 401
    assert app.count("GET", "/v2/account") == 1


async def test_get_json_keeps_money_decimal(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script(
        "GET",
        "/v1/accounts/VA1/balances",
        Reply(body=b'{"total_equity": 17798.360000000000000000000000, "cash": 0.1, "n": 3}'),
    )
    async with make(base_url, sleep, rng) as transport:
        payload = await transport.get_json("/v1/accounts/VA1/balances", operation="get_balances")

    assert payload == {
        "total_equity": Decimal("17798.360000000000000000000000"),
        "cash": Decimal("0.1"),
        "n": 3,
    }
    assert isinstance(payload["cash"], Decimal)
    assert isinstance(payload["n"], int)


async def test_get_json_refuses_a_body_that_is_not_json(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v2/account", Reply(body=b"<html>maintenance</html>"))
    async with make(base_url, sleep, rng) as transport:
        with pytest.raises(BrokerError, match="not JSON"):
            await transport.get_json("/v2/account", operation="get_account")


async def test_base_url_override_and_query_params_reach_the_other_host(
    serve: ServeApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    data_app = ScriptedApp()
    data_app.script("GET", "/v2/stocks/AAPL/quotes/latest", Reply(json={"quote": {"ap": 1.5}}))
    data_url = await serve(data_app)
    async with make(base_url, sleep, rng) as transport:
        payload = await transport.get_json(
            "/v2/stocks/AAPL/quotes/latest",
            operation="get_quote",
            params={"feed": "iex"},
            base_url=data_url,
        )

    assert payload == {"quote": {"ap": Decimal("1.5")}}
    (seen,) = data_app.requests
    assert seen.query == "feed=iex"
    assert seen.headers["accept"] == "application/json"


async def test_connections_are_kept_alive_and_reused(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v2/clock", Reply(json={"is_open": True}))
    async with make(base_url, sleep, rng) as transport:
        for _ in range(3):
            await transport.request("GET", "/v2/clock", operation="get_clock", write=False)

    ports = {r.client_port for r in app.requests}
    assert len(ports) == 1


async def test_transport_reopens_lazily_after_close(
    app: ScriptedApp, base_url: str, sleep: RecordingSleep, rng: random.Random
) -> None:
    app.script("GET", "/v2/clock", Reply(json={}))
    transport = make(base_url, sleep, rng)
    await transport.request("GET", "/v2/clock", operation="get_clock", write=False)
    await transport.aclose()
    await transport.request("GET", "/v2/clock", operation="get_clock", write=False)
    await transport.aclose()
    await transport.aclose()
    assert app.count("GET", "/v2/clock") == 2
