"""The Alpaca adapter's parsers and tables on Alpaca's own example payloads.

Fixtures in ``tests/fixtures/alpaca`` are verbatim examples from Alpaca's OpenAPI specs
(see ``PROVENANCE.md`` there).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from brokerlink.adapters._shared import ErrorResponse
from brokerlink.adapters.alpaca import mapping
from brokerlink.adapters.alpaca.errors import map_error
from brokerlink.adapters.alpaca.wire import (
    AlpacaAccount,
    AlpacaActivity,
    AlpacaClock,
    AlpacaLatestQuote,
    AlpacaLatestQuotes,
    AlpacaLatestTrades,
    AlpacaOrder,
    AlpacaPosition,
)
from brokerlink.core.enums import (
    AccountType,
    AssetType,
    OptionType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import (
    AuthError,
    BrokerUnavailableError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SymbolNotFoundError,
)
from brokerlink.core.models import OrderModify, OrderRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alpaca"
AS_OF = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# The spec's OrderStatus enum plus alpaca-py's pending_review (REFERENCE.md section 4).
ALL_STATUSES = ["new", "partially_filled", "filled", "done_for_day", "canceled", "expired",
                "replaced", "pending_cancel", "pending_replace", "accepted", "pending_new",
                "accepted_for_bidding", "stopped", "rejected", "suspended", "calculated",
                "held", "pending_review"]


def payload(name: str) -> Any:
    with (FIXTURES / name).open() as handle:
        loaded = json.load(handle, parse_float=Decimal)
    assert loaded["_provenance"]
    return loaded["payload"]


def test_account_example_maps_to_account_and_balances() -> None:
    wire = AlpacaAccount.model_validate(payload("account.json"))
    account = mapping.account_from_wire(wire, as_of=AS_OF)
    assert account.account_id == "010203ABCD"
    assert account.account_type is AccountType.MARGIN  # multiplier "4"
    assert account.can_short
    balances = mapping.balances_from_wire(wire, as_of=AS_OF)
    assert balances.cash == Decimal("-23140.2")
    assert balances.total_value == Decimal("103820.56")
    assert balances.day_pnl == Decimal("103820.56") - Decimal("103529.24")
    assert balances.market_value == Decimal("126960.76")
    assert balances.margin_balance == Decimal("23140.2")


@pytest.mark.parametrize(("multiplier", "kind"), [("1", AccountType.CASH),
                                                  ("2", AccountType.MARGIN),
                                                  ("4", AccountType.MARGIN),
                                                  ("3", AccountType.UNKNOWN),
                                                  (None, AccountType.UNKNOWN)])
def test_account_type_comes_from_the_multiplier(multiplier: str | None,
                                                kind: AccountType) -> None:
    assert mapping.account_type(multiplier) is kind


def test_position_example() -> None:
    wire = AlpacaPosition.model_validate(payload("position_long.json"))
    position = mapping.position_from_wire(wire, "A1", as_of=AS_OF)
    assert (position.symbol, position.quantity, position.average_cost) == (
        "AAPL", Decimal(2), Decimal("174.78"))
    assert position.unrealized_pnl_pct == Decimal("-0.28035244307129")  # percent, not ratio
    assert position.asset_type is AssetType.EQUITY


def test_equity_order_example() -> None:
    order = mapping.order_from_wire(AlpacaOrder.model_validate(payload("order_equity.json")),
                                    "A1")
    assert order.status is OrderStatus.PENDING_NEW
    assert order.raw_status == "accepted"
    assert (order.side, order.order_type, order.time_in_force) == (
        OrderSide.BUY, OrderType.LIMIT, TimeInForce.GTC)
    assert order.limit_price == Decimal(150)
    assert order.submitted_at == datetime(2023, 12, 12, 22, 31, 24, 577215, tzinfo=UTC)


def test_option_order_example() -> None:
    order = mapping.order_from_wire(AlpacaOrder.model_validate(payload("order_option.json")),
                                    "A1")
    assert order.asset_type is AssetType.OPTION
    assert (order.option_type, order.strike, order.expiration) == (
        OptionType.CALL, Decimal(100), date(2025, 6, 20))
    assert order.side is OrderSide.BUY_TO_OPEN


@pytest.mark.parametrize("raw", ALL_STATUSES)
def test_every_alpaca_status_is_mapped(raw: str) -> None:
    assert mapping.order_status(raw) is not OrderStatus.UNKNOWN


def test_unknown_status_is_unknown_with_raw_kept() -> None:
    wire = AlpacaOrder.model_validate({**payload("order_equity.json"), "status": "teleported"})
    order = mapping.order_from_wire(wire, "A1")
    assert (order.status, order.raw_status) == (OrderStatus.UNKNOWN, "teleported")


def test_done_for_day_with_fills_is_partially_filled() -> None:
    assert mapping.order_status("done_for_day", quantity=Decimal(5),
                                filled=Decimal(2)) is OrderStatus.PARTIALLY_FILLED


def test_status_table_round_trips() -> None:
    for status, raw in mapping.ORDER_STATUS_TO_WIRE.items():
        assert mapping.order_status(raw) is status


@pytest.mark.parametrize(("side", "intent", "option", "expected"), [
    ("buy", None, False, OrderSide.BUY),
    ("sell", None, False, OrderSide.SELL),
    ("sell", "sell_to_open", False, OrderSide.SELL_SHORT),
    ("buy", "buy_to_close", False, OrderSide.BUY_TO_COVER),
    ("buy", "buy_to_open", True, OrderSide.BUY_TO_OPEN),
    ("sell", "sell_to_open", True, OrderSide.SELL_TO_OPEN),
    ("sell", "sell_to_close", True, OrderSide.SELL_TO_CLOSE),
    ("buy", "buy_to_close", True, OrderSide.BUY_TO_CLOSE),
])
def test_side_and_position_intent(side: str, intent: str | None, option: bool,
                                  expected: OrderSide) -> None:
    assert mapping.order_side(side, intent, option=option) is expected
    wire_side, wire_intent = mapping.SIDE_TO_WIRE[expected]
    assert wire_side == side
    if option:
        assert wire_intent == intent


def test_order_request_to_wire_always_has_a_client_order_id() -> None:
    request = OrderRequest(symbol="AAPL250620C00100000", side="buy_to_open", quantity=2,
                           order_type="limit", limit_price="10.5")
    body = mapping.order_to_wire(request).to_wire()
    assert body == {"symbol": "AAPL250620C00100000", "qty": "2", "side": "buy",
                    "type": "limit", "time_in_force": "day",
                    "client_order_id": request.client_order_id,
                    "position_intent": "buy_to_open", "limit_price": "10.5"}
    changes = OrderModify(limit_price=Decimal("10.60"), quantity=3)
    assert mapping.modify_to_wire(changes).to_wire() == {"qty": "3", "limit_price": "10.6"}


def test_activity_examples() -> None:
    fill = mapping.transaction_from_wire(
        AlpacaActivity.model_validate(payload("activity_fill.json")), "A1", as_of=AS_OF)
    assert (fill.type, fill.side, fill.quantity, fill.price) == (
        TransactionType.FILL, OrderSide.BUY, Decimal(2), Decimal("174.78"))
    assert fill.amount == Decimal("-349.56")
    assert fill.order_id == "b5abe576-6a8a-49f3-a353-46b72c1ccae9"
    dividend = mapping.transaction_from_wire(
        AlpacaActivity.model_validate(payload("activity_dividend.json")), "A1", as_of=AS_OF)
    assert (dividend.type, dividend.amount, dividend.symbol) == (
        TransactionType.DIVIDEND, Decimal("1.02"), "T")


def test_clock_and_quote_examples() -> None:
    clock = AlpacaClock.model_validate(payload("clock.json"))
    assert clock.is_open
    assert clock.next_close.tzinfo is not None
    single = AlpacaLatestQuote.model_validate(payload("stock_quote_latest.json"))
    quote = mapping.quote_from_wire(single.symbol, single.quote, None, as_of=AS_OF)
    assert (quote.bid, quote.ask, quote.ask_size) == (Decimal("172.6"), Decimal("172.7"),
                                                      Decimal(1))
    multi = AlpacaLatestQuotes.model_validate(payload("stock_quotes_latest.json"))
    assert set(multi.quotes) == {"AAPL", "TSLA"}
    options = AlpacaLatestQuotes.model_validate(payload("option_quotes_latest.json"))
    assert options.quotes["AAPL250321C00190000"].bp == Decimal("16.75")
    trades = AlpacaLatestTrades.model_validate(payload("stock_trades_latest.json"))
    assert trades.trades["AAPL"].p == Decimal("172.78")


def _response(status: int, body: Any, operation: str = "place_order",
              headers: dict[str, str] | None = None) -> ErrorResponse:
    return ErrorResponse(status=status, body=body, text=json.dumps(body),
                         headers=httpx.Headers(headers or {}), operation=operation,
                         broker="alpaca", connection_id=None, request_id="r1",
                         client_order_id="bl-123")


@pytest.mark.parametrize(("status", "body", "operation", "expected"), [
    (401, {"message": "unauthorized."}, "get_account", AuthError),
    (403, {"code": 40310000, "message": "insufficient buying power",
           "buying_power": "176531.28", "cost_basis": "48640000"}, "place_order",
     InsufficientFundsError),
    (403, {"available": "0", "code": 40310000, "message": "insufficient qty available"},
     "place_order", InvalidOrderError),
    (403, {"code": 40310100, "message": "trade denied due to pattern day trading protection"},
     "place_order", PermissionDeniedError),
    (422, {"code": 42210000, "message": 'asset "ZZZZ" not found'}, "place_order",
     SymbolNotFoundError),
    (422, {"code": 40010001, "message": "client_order_id must be unique"}, "place_order",
     DuplicateOrderError),
    (422, {"code": 42210000,
           "message": "options market orders are only allowed during market hours"},
     "place_order", MarketClosedError),
    (422, {"code": 42210000, "message": "stop price must be greater than current price"},
     "place_order", InvalidOrderError),
    (422, {"code": 42210000, "message": "order is not cancelable"}, "cancel_order",
     InvalidOrderError),
    (404, {"code": 40410000, "message": "order not found"}, "get_order", OrderNotFoundError),
    (404, {"code": 40410000, "message": "order not found"}, "cancel_order",
     OrderNotFoundError),
    (404, {"code": 40410000, "message": "asset not found"}, "get_asset", SymbolNotFoundError),
    (429, {"code": 42910000, "message": "rate limit exceeded"}, "get_account",
     RateLimitError),
])
def test_error_table(status: int, body: dict[str, Any], operation: str,
                     expected: type[Exception]) -> None:
    error = map_error(_response(status, body, operation, {"Retry-After": "3"}))
    assert type(error) is expected
    assert error is not None
    assert str(body["message"]) in error.message  # the broker's own words are kept
    assert error.http_status == status


def test_error_details() -> None:
    funds = map_error(_response(403, {"code": 40310000, "message": "insufficient buying power",
                                      "buying_power": "10", "cost_basis": "20"}))
    assert isinstance(funds, InsufficientFundsError)
    assert (funds.required, funds.available) == (Decimal(20), Decimal(10))
    unknown = map_error(_response(422, {"code": 42210000, "message": 'asset "ZZZZ" not found'}))
    assert isinstance(unknown, SymbolNotFoundError)
    assert unknown.symbol == "ZZZZ"
    limited = map_error(_response(429, {"code": 42910000, "message": "rate limit exceeded"},
                                  headers={"Retry-After": "3"}))
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 3
    # No rule for a 503: the table falls back to the transport's default mapping.
    assert type(map_error(_response(503, {"message": "down"}))) is BrokerUnavailableError
