from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from brokerlink import (
    AccountBalances,
    BrokerCredentials,
    InvalidOrderError,
    OptionType,
    Order,
    OrderModify,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from brokerlink.core.enums import AssetType, BrokerType


def test_defaults_and_exact_decimals() -> None:
    order = OrderRequest(symbol="aapl", side="buy", quantity=0.1)
    assert order.symbol == "AAPL"
    assert order.quantity == Decimal("0.1")
    assert order.time_in_force is TimeInForce.DAY
    assert order.order_type is OrderType.MARKET
    assert order.client_order_id.startswith("bl-")
    assert OrderRequest(symbol="A", side="buy", quantity=1).client_order_id != \
        order.client_order_id


def test_models_are_frozen() -> None:
    order = OrderRequest(symbol="AAPL", side="buy", quantity=1)
    with pytest.raises(ValidationError):
        order.quantity = Decimal(2)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"order_type": "limit"}, "limit_price"),
        ({"order_type": "market", "limit_price": 5}, "limit_price"),
        ({"order_type": "stop"}, "stop_price"),
        ({"order_type": "limit", "limit_price": 5, "stop_price": 4}, "stop_price"),
        ({"order_type": "stop_limit", "stop_price": 4}, "limit_price"),
        ({"order_type": "trailing_stop"}, "trail_amount"),
        ({"order_type": "trailing_stop", "trail_amount": 1, "trail_percent": 2}, "trail_amount"),
        ({"order_type": "limit", "limit_price": 5, "trail_percent": 2}, "trail_percent"),
        ({"order_type": "trailing_stop", "trail_percent": 100}, "trail_percent"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": float("nan")}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"order_type": "limit", "limit_price": "-1"}, "limit_price"),
        ({"option_type": "call"}, "option_type"),
        ({"side": "buy_to_open"}, "side"),
        ({"time_in_force": "opg", "order_type": "stop", "stop_price": 3}, "time_in_force"),
        ({"extended_hours": True}, "extended_hours"),
        ({"side": "hold"}, "side"),
        ({"client_order_id": "has spaces"}, "client_order_id"),
    ],
)
def test_invalid_orders_name_the_field(fields: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"symbol": "AAPL", "side": "buy", "quantity": 1}
    with pytest.raises(InvalidOrderError) as raised:
        OrderRequest.model_validate({**base, **fields})
    assert raised.value.field == field
    assert str(raised.value)


def test_option_order_from_fields_or_occ_symbol() -> None:
    by_fields = OrderRequest(symbol="AAPL", side=OrderSide.BUY_TO_OPEN, quantity=2,
                             option_type=OptionType.CALL, strike=Decimal(150),
                             expiration=date(2027, 1, 15))
    by_symbol = OrderRequest(symbol="AAPL  270115C00150000", side="buy_to_open", quantity=2,
                             client_order_id=by_fields.client_order_id)
    assert by_fields == by_symbol
    assert by_symbol.asset_type is AssetType.OPTION
    assert by_symbol.instrument_symbol == "AAPL270115C00150000"


def test_option_rules() -> None:
    with pytest.raises(InvalidOrderError, match="buy_to_open"):
        OrderRequest(symbol="AAPL270115C00150000", side="buy", quantity=1)
    with pytest.raises(InvalidOrderError, match="whole"):
        OrderRequest(symbol="AAPL270115C00150000", side="buy_to_open", quantity="1.5")
    with pytest.raises(InvalidOrderError, match="contradicts"):
        OrderRequest(symbol="AAPL270115C00150000", side="buy_to_open", quantity=1,
                     strike=Decimal(155))


def test_valid_order_types() -> None:
    OrderRequest(symbol="X", side="sell", quantity=1, order_type="stop_limit",
                 stop_price=10, limit_price="9.5")
    trailing = OrderRequest(symbol="X", side="sell", quantity=1, order_type="trailing_stop",
                            trail_percent="2.5")
    assert trailing.trail_percent == Decimal("2.5")
    OrderRequest(symbol="X", side="buy", quantity=1, order_type="limit", limit_price=1,
                 extended_hours=True, time_in_force="gtc")


def test_modify_needs_a_change() -> None:
    with pytest.raises(InvalidOrderError, match="changes nothing"):
        OrderModify()
    with pytest.raises(InvalidOrderError) as raised:
        OrderModify(limit_price=0)
    assert raised.value.field == "limit_price"
    assert OrderModify(quantity=3).quantity == 3


def test_datetimes_must_be_aware_and_become_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    balances = AccountBalances(account_id="a", cash=1, cash_available=1, cash_withdrawable=1,
                               buying_power=1, total_value=1, market_value=0,
                               as_of=datetime(2026, 1, 2, 10, tzinfo=eastern))
    assert balances.as_of == datetime(2026, 1, 2, 15, tzinfo=UTC)
    assert balances.as_of.tzinfo is UTC
    with pytest.raises(ValidationError, match="timezone-aware"):
        AccountBalances(account_id="a", cash=1, cash_available=1, cash_withdrawable=1,
                        buying_power=1, total_value=1, market_value=0,
                        as_of=datetime(2026, 1, 2, 10))  # noqa: DTZ001


def test_decimals_serialise_as_strings() -> None:
    order = OrderRequest(symbol="AAPL", side="buy", quantity="1.10", order_type="limit",
                         limit_price="187.3")
    dumped = order.model_dump(mode="json")
    assert dumped["quantity"] == "1.10"
    assert dumped["limit_price"] == "187.3"


def test_order_remaining_and_result() -> None:
    order = Order(order_id="1", account_id="a", symbol="AAPL", side="buy", quantity=10,
                  order_type="market", status=OrderStatus.PARTIALLY_FILLED,
                  filled_quantity=4, average_fill_price="10.5")
    assert order.remaining_quantity == 6
    result = order.to_result()
    assert result.success
    assert result.filled_quantity == 4
    done = order.model_copy(update={"status": OrderStatus.CANCELED})
    assert done.remaining_quantity == 0


def test_credentials_never_show_secrets() -> None:
    creds = BrokerCredentials(broker=BrokerType.ALPACA, api_key="AKCANARY123",
                              api_secret="s3cr3t-canary", extra={"pin": "9911"})
    for text in (repr(creds), str(creds), creds.model_dump_json()):
        assert "AKCANARY123" not in text
        assert "s3cr3t-canary" not in text
        assert "9911" not in text
    assert creds.api_secret is not None
    assert creds.api_secret.get_secret_value() == "s3cr3t-canary"
