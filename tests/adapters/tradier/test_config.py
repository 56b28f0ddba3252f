"""Tradier hosts and its three documented rate-limit windows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from brokerlink.adapters.tradier import SPEC
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


def test_config_is_frozen_and_refuses_unknown_fields() -> None:
    config = TradierConfig.sandbox()
    with pytest.raises(ValidationError):
        config.base_url = LIVE_API  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TradierConfig(environment=Environment.LIVE, base_url=LIVE_API,
                      account_stream_url="wss://x", limits=config.limits,
                      oauth_url="https://x")  # type: ignore[call-arg]


def test_the_hosts_are_the_specs() -> None:
    # One source of truth: the config's hosts are the SPEC's environments.
    hosts = {env.name: env.base_url for env in SPEC.environments}
    assert (hosts["live"], hosts["sandbox"]) == (TradierConfig.live().base_url,
                                                 TradierConfig.sandbox().base_url)
    assert SPEC.default_environment == "sandbox"
