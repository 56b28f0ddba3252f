"""Tradier hosts and its three documented rate-limit windows."""

from __future__ import annotations

from brokerlink.adapters.tradier.config import (
    LIVE_API,
    SANDBOX_API,
    Bucket,
    Environment,
    TradierConfig,
)


def test_live_limits_are_separate_buckets() -> None:
    limits = TradierConfig.live().rate_limits()
    assert {name: limits[name].rate for name in limits} == {
        Bucket.STANDARD: 120, Bucket.MARKET_DATA: 120, Bucket.TRADING: 60}
    assert limits[Bucket.TRADING].per == 60.0
    assert limits[Bucket.STANDARD] is not limits[Bucket.MARKET_DATA]


def test_sandbox_limits() -> None:
    limits = TradierConfig.sandbox().rate_limits()
    assert {limits[name].rate for name in limits} == {60}


def test_base_url_picks_the_environment() -> None:
    assert TradierConfig.for_base_url(None).base_url == LIVE_API
    assert TradierConfig.for_base_url(None, sandbox=True).base_url == SANDBOX_API
    assert TradierConfig.for_base_url("https://sandbox.tradier.com/v1/").environment is \
        Environment.SANDBOX
    local = TradierConfig.for_base_url("http://127.0.0.1:8123")
    assert local.environment is Environment.EMULATOR
    assert local.base_url == "http://127.0.0.1:8123/v1"
    assert local.account_stream_url == "ws://127.0.0.1:8123/v1/accounts/events"
