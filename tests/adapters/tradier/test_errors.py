"""Tradier error bodies and statuses become typed errors that keep Tradier's message,
through one ``ErrorRules`` table (the most specific row wins)."""

from __future__ import annotations

import httpx
import pytest

from brokerlink.adapters._shared import ErrorResponse
from brokerlink.adapters.tradier.errors import RULES, error_messages, map_error, rejection
from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    BrokerUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SymbolNotFoundError,
)
from tests.adapters.tradier.payloads import payload


def _response(status: int, body: object, *, operation: str = "place_order",
              headers: dict[str, str] | None = None, text: str = "") -> ErrorResponse:
    return ErrorResponse(status=status, body=body, text=text or str(body),
                         headers=httpx.Headers(headers or {}), operation=operation,
                         broker="tradier", connection_id="c1", request_id=None,
                         client_order_id=None)


@pytest.mark.parametrize(("name", "kind"), [
    ("errors_one", InsufficientFundsError),
    ("errors_list", InvalidOrderError),
    ("errors_symbol", SymbolNotFoundError),
])
def test_documented_bodies(name: str, kind: type[BrokerError]) -> None:
    messages = error_messages(payload(name))
    assert messages
    # A downstream rejection comes with HTTP 200; a validation error with 400.
    for status in (200, 400):
        error = map_error(_response(status, payload(name)))
        assert type(error) is kind
        assert error.http_status == status
    assert messages[0] in error.message


@pytest.mark.parametrize(("message", "kind", "code"), [
    ("AccountIsNotApproved: options level too low", PermissionDeniedError,
     "AccountIsNotApproved"),
    ("DayTradingBuyingPowerExceeded", InsufficientFundsError,
     "DayTradingBuyingPowerExceeded"),
    ("MarketClosed: try again at the open", MarketClosedError, "MarketClosed"),
    ("Order not found", OrderNotFoundError, None),
    ("Backoffice rejected override of the order. Unexpected SellShortOrder",
     InvalidOrderError, "SellShortOrder"),
])
def test_message_table(message: str, kind: type[BrokerError], code: str | None) -> None:
    error = map_error(_response(200, {"errors": {"error": message}}))
    assert type(error) is kind
    assert error.broker_code == code
    assert message in error.message


def test_bodies_without_errors_are_not_errors() -> None:
    assert error_messages(payload("order_ack")) is None
    assert error_messages("Invalid Access Token") is None


def test_401_plain_text_is_an_auth_error_without_the_token() -> None:
    error = map_error(_response(401, "Invalid Access Token", operation="get_profile"))
    assert isinstance(error, AuthError)
    assert "sandbox and live tokens differ" in error.message


def test_429_carries_retry_after_from_tradier_headers() -> None:
    expiry = 10_000_000_000_000  # far future, epoch ms
    error = map_error(_response(429, "Rate limit exceeded", operation="get_orders",
                                headers={"X-Ratelimit-Available": "0",
                                         "X-Ratelimit-Expiry": str(expiry),
                                         "Retry-After": "3"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3.0


def test_404_on_an_order_is_order_not_found() -> None:
    error = map_error(_response(404, {"errors": {"error": "Order not found"}},
                                operation="get_order"))
    assert isinstance(error, OrderNotFoundError)


def test_400_errors_body_is_classified_and_5xx_falls_through() -> None:
    error = map_error(_response(400, payload("errors_list")))
    assert isinstance(error, InvalidOrderError)
    # A 5xx is a failing broker, whatever its body says: the shared default decides.
    failing = map_error(_response(500, {"errors": {"error": "Internal server error"}}))
    assert isinstance(failing, BrokerUnavailableError)


def test_rejection_names_the_symbol_or_order_it_was_about() -> None:
    symbol = rejection(_response(200, payload("errors_symbol")), symbol="ZZZQX")
    assert isinstance(symbol, SymbolNotFoundError)
    assert symbol.symbol == "ZZZQX"
    order = rejection(_response(400, {"errors": {"error": "Order not found"}},
                                operation="cancel_order"), order_id="42")
    assert isinstance(order, OrderNotFoundError)
    assert order.order_id == "42"


def test_the_most_specific_rule_wins() -> None:
    # A 404 on an order operation matches both the status rule and the message rule for
    # "not found"; a 400 naming buying power matches the catch-all and the funds rule.
    funds = _response(400, {"errors": {"error": "not enough buying power"}})
    rule = RULES.resolve(funds)
    assert rule is not None
    assert rule.error is InsufficientFundsError
    catch_all = _response(400, {"errors": {"error": "Backoffice said no"}})
    resolved = RULES.resolve(catch_all)
    assert resolved is not None
    assert resolved.error is InvalidOrderError


def test_statuses_without_a_tradier_rule_fall_back_to_the_shared_default() -> None:
    assert isinstance(map_error(_response(403, "Forbidden", operation="get_balances")),
                      PermissionDeniedError)
    unavailable = map_error(_response(503, "busy", operation="get_balances"))
    assert unavailable.retryable
    assert not isinstance(unavailable, InvalidOrderError)
