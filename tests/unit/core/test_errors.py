from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerlink import errors
from brokerlink.errors import (
    BrokerError,
    InsufficientFundsError,
    MarketClosedError,
    RateLimitError,
    Recovery,
    RequestTimeoutError,
)


def test_each_error_says_what_is_safe_next() -> None:
    assert RateLimitError("slow down", retry_after=2.5).retryable
    assert errors.BrokerConnectionError("down").retryable
    assert errors.BrokerUnavailableError("503").retryable
    assert not errors.InvalidOrderError("bad").retryable
    assert not RequestTimeoutError("?").retryable
    assert RequestTimeoutError("?").recovery is Recovery.RECONCILE
    assert errors.ReauthRequiredError("x").recovery is Recovery.REAUTHENTICATE
    assert isinstance(errors.ReauthRequiredError("x"), errors.AuthError)
    assert errors.MarketClosedError("x").recovery is Recovery.WAIT_FOR_MARKET_OPEN


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_broker_error(name: str) -> None:
    value = getattr(errors, name)
    if isinstance(value, type) and issubclass(value, Exception):
        assert issubclass(value, BrokerError)


def test_message_carries_context() -> None:
    error = InsufficientFundsError("not enough", required=Decimal(10), available=Decimal(5),
                                   broker="alpaca", http_status=403, request_id="r1")
    assert str(error) == "not enough (broker=alpaca, status=403, request_id=r1)"
    assert error.required == 10
    assert repr(error) == "InsufficientFundsError('not enough')"
    opens = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    assert MarketClosedError("closed", next_open=opens).next_open == opens
