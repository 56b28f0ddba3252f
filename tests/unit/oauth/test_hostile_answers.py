"""Token lifetimes and callbacks an attacker or a broken server could send: each is a
typed error or a bounded value, never an OverflowError, a UnicodeEncodeError or a
silent "never expires"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import (
    MAX_TOKEN_LIFETIME,
    OAuthClient,
    parse_lifetime,
    token_set_from_response,
)
from brokerlink.auth.oauth_config import (
    ClientAuthMethod,
    OAuthClientCredentials,
    OAuthProviderConfig,
)
from brokerlink.auth.oauth_errors import MalformedCallbackError
from brokerlink.core.errors import BrokerError, BrokerUnavailableError

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
CONFIG = OAuthProviderConfig(broker="testbroker",
                             authorize_url="https://auth.example/authorize",
                             token_url="https://auth.example/token",
                             client_auth=ClientAuthMethod.BASIC)


@pytest.mark.parametrize("value", [1e20, float("inf"), float("-inf"), 1e12, "nan", -5, True,
                                   False, [], {}, "1e3", "٣٦٠٠", " 3600", "3600.5", 3600.5,
                                   float("nan"), "", 10**30, "9" * 40])
def test_a_lifetime_that_is_not_a_bounded_whole_number_is_a_typed_error(value: Any) -> None:
    with pytest.raises(BrokerUnavailableError, match="expires_in"):
        parse_lifetime({"expires_in": value}, "expires_in", broker="testbroker")
    with pytest.raises(BrokerUnavailableError):
        token_set_from_response({"access_token": "a", "expires_in": value}, now=NOW,
                                config=CONFIG)


@pytest.mark.parametrize(("value", "seconds"), [(0, 0), (1800, 1800), (1800.0, 1800),
                                                ("86400", 86400)])
def test_a_sane_lifetime_is_read(value: object, seconds: int) -> None:
    assert parse_lifetime({"x": value}, "x", broker="b") == timedelta(seconds=seconds)
    tokens = token_set_from_response({"access_token": "a", "expires_in": value}, now=NOW,
                                     config=CONFIG)
    assert tokens.expires_at == NOW + timedelta(seconds=seconds)


def test_the_bound_itself_is_accepted_and_one_more_is_not() -> None:
    limit = int(MAX_TOKEN_LIFETIME.total_seconds())
    assert parse_lifetime({"x": limit}, "x", broker="b") == MAX_TOKEN_LIFETIME
    with pytest.raises(BrokerUnavailableError):
        parse_lifetime({"x": limit + 1}, "x", broker="b")


def test_a_refresh_lifetime_is_parsed_as_strictly() -> None:
    with pytest.raises(BrokerUnavailableError, match="refresh_token_expires_in"):
        token_set_from_response({"access_token": "a", "refresh_token": "r",
                                 "refresh_token_expires_in": "inf"}, now=NOW, config=CONFIG)


@pytest.mark.parametrize("callback", [
    "http://127.0.0.1:5000/callback?code=c&state=\ud800",
    "http://127.0.0.1:5000/callback?code=\udfff&state=s",
    "http://127.0.0.1:5000/callback?code=c&state=%ED%A0%80",
    "http://127.0.0.1:5000/callback?code=c&state=%FF",
    "http://127.0.0.1:5000/callback?code=c\x00&state=s",
    "http://127.0.0.1:5000/callback?" + "a=1&" * 50,
    "http://127.0.0.1:5000/callback?state=" + "s" * 10_000,
    "http://[::1/callback?state=s&code=c",
    "",
])
async def test_a_malformed_callback_is_a_typed_oauth_error(callback: str) -> None:
    client = OAuthClient(CONFIG, OAuthClientCredentials("id", SecretStr("secret")),
                         MemoryPendingStateStore())
    with pytest.raises(BrokerError) as raised:
        await client.complete(callback)
    assert isinstance(raised.value, MalformedCallbackError)
