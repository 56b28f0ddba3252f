"""The status-based default error mapping and body helpers, without a server."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from brokerlink.adapters._shared import (
    ErrorResponse,
    default_error_for,
    error_code,
    error_message,
)
from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    BrokerUnavailableError,
    InvalidOrderError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from brokerlink.core.values import utc_now


def response(
    status: int,
    body: object = "",
    *,
    operation: str = "get_account",
    headers: dict[str, str] | None = None,
) -> ErrorResponse:
    return ErrorResponse(
        status=status,
        body=body,
        text=str(body),
        headers=httpx.Headers(headers or {}),
        operation=operation,
        broker="alpaca",
        connection_id="c1",
        request_id="req-1",
        client_order_id=None,
    )


@pytest.mark.parametrize(
    ("status", "operation", "expected"),
    [
        (401, "get_account", AuthError),
        (403, "place_order", PermissionDeniedError),
        (404, "get_order", OrderNotFoundError),
        (404, "cancel_order", OrderNotFoundError),
        (400, "place_order", InvalidOrderError),
        (422, "place_order", InvalidOrderError),
        (429, "get_orders", RateLimitError),
        (500, "get_orders", BrokerUnavailableError),
        (503, "get_orders", BrokerUnavailableError),
    ],
)
def test_default_mapping_by_status(
    status: int, operation: str, expected: type[BrokerError]
) -> None:
    error = default_error_for(response(status, operation=operation))
    assert type(error) is expected
    assert (error.http_status, error.request_id, error.broker) == (status, "req-1", "alpaca")


@pytest.mark.parametrize("status", [404, 409, 418])
def test_default_mapping_falls_back_to_plain_broker_error(status: int) -> None:
    body = {"code": 40410000, "message": "asset not found"}
    error = default_error_for(response(status, body, operation="get_asset"))
    assert type(error) is BrokerError
    assert error.broker_code == "40410000"
    assert "asset not found" in str(error)


def test_default_rate_limit_reads_retry_after_or_reset_headers() -> None:
    simple = default_error_for(response(429, headers={"Retry-After": "7"}))
    assert isinstance(simple, RateLimitError)
    assert simple.retry_after == 7.0
    reset = int((utc_now() + timedelta(seconds=30)).timestamp())
    error = default_error_for(
        response(429, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    )
    assert isinstance(error, RateLimitError)
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 30
    when = format_datetime(utc_now() + timedelta(seconds=60), usegmt=True)
    dated = default_error_for(response(429, headers={"Retry-After": when}))
    assert isinstance(dated, RateLimitError)
    assert dated.retry_after is not None
    assert 55 <= dated.retry_after <= 60


def test_message_extraction_covers_alpaca_and_tradier_shapes() -> None:
    assert error_message({"code": 42210000, "message": "invalid order type"}) == (
        "invalid order type"
    )
    assert error_message({"errors": {"error": "Invalid parameter, ^TNX: symbol not found."}}) == (
        "Invalid parameter, ^TNX: symbol not found."
    )
    assert error_message({"errors": {"error": ["type is invalid", "bad duration"]}}) == (
        "type is invalid; bad duration"
    )
    assert error_message({"fault": {"faultstring": "Invalid Access Token"}}) == (
        "Invalid Access Token"
    )
    assert error_message("plain text") == "plain text"
    assert error_message({"other": 1}) is None
    assert error_code({"code": 40310000}) == "40310000"
    assert error_code({"code": True}) is None
    assert error_code([1]) is None
