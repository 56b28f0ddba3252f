"""Over a real server: the transport consults and updates the call's rate-limit bucket."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    BearerToken,
    RateLimiter,
    RateLimits,
    RetryPolicy,
    Transport,
)

from .support import FakeClock, Reply, ScriptedApp

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_transport_pauses_bucket_from_headers_and_429(
    app: ScriptedApp, base_url: str
) -> None:
    clock = FakeClock()
    reset = int((datetime.now(UTC) + timedelta(seconds=20)).timestamp())
    app.script(
        "GET",
        "/v1/markets/quotes",
        Reply(json={}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}),
        Reply(429, headers={"Retry-After": "7"}),
        Reply(json={}),
    )
    market = RateLimiter(
        120, 60.0, monotonic=clock.monotonic, sleep=clock.sleep, clock=lambda: datetime.now(UTC)
    )
    transport = Transport(
        broker="tradier",
        base_url=base_url,
        credentials=BearerToken(SecretStr("tok-rl-0001")),
        rate_limits=RateLimits({"market_data": market}),
        # Retries sleep on the same fake clock, so a 429 is waited out once, not twice.
        retry=RetryPolicy(sleep=clock.sleep, rng=random.Random(3)),
    )
    async with transport:
        await transport.request(
            "GET", "/v1/markets/quotes", operation="get_quote", write=False, bucket="market_data"
        )
        assert clock.sleeps == []
        await transport.request(
            "GET", "/v1/markets/quotes", operation="get_quote", write=False, bucket="market_data"
        )

    # First the server's reset (~20 s), then the 429's Retry-After (7 s) exactly once.
    assert len(clock.sleeps) == 2
    assert 18.0 <= clock.sleeps[0] <= 20.0
    assert clock.sleeps[1] == pytest.approx(7.0)
    assert app.count("GET", "/v1/markets/quotes") == 3


async def test_unknown_bucket_is_a_programming_error(base_url: str) -> None:
    transport = Transport(
        broker="tradier",
        base_url=base_url,
        credentials=BearerToken(SecretStr("tok-rl-0002")),
        rate_limits=RateLimits({"trading": RateLimiter(60, 60.0)}),
    )
    async with transport:
        with pytest.raises(KeyError, match="standard"):
            await transport.request(
                "GET", "/v1/user/profile", operation="get_profile", write=False, bucket="standard"
            )
