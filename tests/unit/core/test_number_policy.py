"""The one Decimal policy: every input a probe tried is either refused with a typed error
naming the field and the rule, or read exactly; none crashes or is silently accepted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokerlink.core.errors import InvalidOrderError
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.core.numbers import NumberPolicyError, check_bounded, parse_decimal_text


@pytest.mark.parametrize("quantity", ["1e-400", "0.0000000001", "١٢", "1e400",
                                      "99999999999999999999", "1E+9999999999", "nan", "inf",
                                      "-inf", "1_000", "0x10", "", " ", "1.2.3", "\uff11\uff12",
                                      Decimal("1e-400"), Decimal("1E+9999999999"),
                                      99999999999999999999, 1e300, "1000000001"])
def test_a_bad_quantity_is_an_invalid_order_naming_quantity(quantity: Any) -> None:
    with pytest.raises(InvalidOrderError) as raised:
        OrderRequest(symbol="AAPL", side="buy", quantity=quantity)
    assert raised.value.field == "quantity"


@pytest.mark.parametrize(("price", "rule"), [("0.0000001", "tick"), ("1.001", "tick"),
                                             ("0.00001", "tick"), ("10000001", "limit"),
                                             ("12.345", "tick")])
def test_a_price_off_the_tick_is_refused_with_the_rule(price: str, rule: str) -> None:
    with pytest.raises(InvalidOrderError, match=rule) as raised:
        OrderRequest(symbol="AAPL", side="buy", quantity=1, order_type="limit",
                     limit_price=price)
    assert raised.value.field == "limit_price"


@pytest.mark.parametrize("price", ["0.0001", "0.9999", "1.00", "1.5", "123.45", "1e2"])
def test_prices_on_the_tick_are_taken_exactly(price: str) -> None:
    order = OrderRequest(symbol="AAPL", side="buy", quantity=1, order_type="limit",
                         limit_price=price)
    assert order.limit_price == Decimal(price)


def test_options_are_whole_contracts_in_whole_cents() -> None:
    with pytest.raises(InvalidOrderError, match="cents"):
        OrderRequest(symbol="AAPL270115C00150000", side="buy_to_open", quantity=1,
                     order_type="limit", limit_price="0.505")
    with pytest.raises(InvalidOrderError, match="whole"):
        OrderRequest(symbol="AAPL270115C00150000", side="buy_to_open", quantity="1.5")
    order = OrderRequest(symbol="AAPL270115C00150000", side="buy_to_open", quantity=2,
                         order_type="limit", limit_price="0.55")
    assert order.quantity == 2


def test_fractional_shares_to_nine_places_are_taken() -> None:
    assert OrderRequest(symbol="AAPL", side="buy", quantity="0.000000001").quantity == \
        Decimal("0.000000001")


def test_a_modify_follows_the_same_rules() -> None:
    with pytest.raises(InvalidOrderError) as raised:
        OrderModify(limit_price="12.345")
    assert raised.value.field == "limit_price"
    with pytest.raises(InvalidOrderError):
        OrderModify(quantity="1E+9999999999")


@pytest.mark.parametrize("text", ["١٢", "12e", "e5", "+", "1e1234567", "NaN", "Infinity"])
def test_text_is_ascii_digits_only(text: str) -> None:
    with pytest.raises(NumberPolicyError):
        parse_decimal_text(text)


def test_computed_values_keep_their_precision_and_zero_is_zero() -> None:
    third = Decimal(1) / Decimal(3)
    assert check_bounded(third) == third
    assert check_bounded(Decimal("0E-1000")) == 0
    assert parse_decimal_text(" 12.50 ") == Decimal("12.50")
