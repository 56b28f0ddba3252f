"""Issue 19 item 7 on the Tradier emulator, over a real loopback socket: the numbers of
an order form (``quantity``, ``price``, ``stop``, leg quantities) follow the core Decimal
policy. Garbage, fractional quantities (Tradier takes whole shares and contracts),
prices off the US tick and values above the bounds are answered 400 in Tradier's
documented shape, ``{"errors": {"error": "Invalid parameter, <field>: ..."}}``, never a
500 and never an order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.emulators.tradier.conftest import Api, body

ARABIC_12 = "\u0661\u0662"
"""12 in Arabic-Indic digits, which ``Decimal()`` alone would read as 12."""
ARABIC_100, ARABIC_101 = "\u0661\u0660\u0660", "\u0661\u0660\u0661"
GARBAGE = ["1e-400", ARABIC_12, "1e400", "99999999999999999999", "1E+9999999999", "nan",
           "Infinity", "1_0", "0x10", "½"]
EQUITY = {"class": "equity", "symbol": "AAPL", "side": "buy", "duration": "day"}


def _messages(response: httpx.Response) -> list[str]:
    error = body(response)["errors"]["error"]
    return error if isinstance(error, list) else [error]


def _assert_refused(response: httpx.Response, field: str, rule: str = "") -> None:
    assert response.status_code == 400, response.text
    (message,) = _messages(response)
    assert message.startswith(f"Invalid parameter, {field}: "), message
    assert rule in message


async def _orders(api: Api) -> Any:
    return (await api.get(f"/accounts/{api.account_id}/orders"))["orders"]


def _option(api: Api) -> str:
    chain = api.env.engine.universe.option_chain("AAPL", api.env.engine.now().date())
    return chain[len(chain) // 2].symbol


@pytest.mark.parametrize("value", GARBAGE)
async def test_garbage_quantities_are_refused(api: Api, value: str) -> None:
    response = await api.place(**EQUITY, quantity=value, type="market")
    _assert_refused(response, "quantity")
    assert await _orders(api) == "null"


@pytest.mark.parametrize("value", GARBAGE)
@pytest.mark.parametrize("field", ["price", "stop"])
async def test_garbage_prices_are_refused(api: Api, field: str, value: str) -> None:
    response = await api.place(**EQUITY, quantity="1", type="stop_limit",
                               **({"price": "100", "stop": "101"} | {field: value}))
    _assert_refused(response, field)
    assert await _orders(api) == "null"


@pytest.mark.parametrize(("form", "field", "rule"), [
    ({"quantity": "0.5", "type": "market"}, "quantity", "whole number"),
    ({"quantity": "1e-7", "type": "market"}, "quantity", "whole number"),
    ({"quantity": "0.0000000001", "type": "market"}, "quantity", "whole number"),
    ({"quantity": "0", "type": "market"}, "quantity", "greater than zero"),
    ({"quantity": "1000000001", "type": "market"}, "quantity", "limit"),
    ({"quantity": "1", "type": "limit", "price": "0.0000001"}, "price",
     "hundredths of a cent"),
    ({"quantity": "1", "type": "limit", "price": "100.001"}, "price", "whole cents"),
    ({"quantity": "1", "type": "limit", "price": "10000000.01"}, "price", "limit"),
    ({"quantity": "1", "type": "stop", "stop": "250.005"}, "stop", "whole cents"),
])
async def test_numbers_off_the_rules_are_refused(api: Api, form: dict[str, str],
                                                 field: str, rule: str) -> None:
    _assert_refused(await api.place(**EQUITY, **form), field, rule)
    assert await _orders(api) == "null"


async def test_options_are_priced_in_cents(api: Api) -> None:
    option = {"class": "option", "symbol": "AAPL", "option_symbol": _option(api),
              "side": "buy_to_open", "duration": "day", "type": "limit"}
    _assert_refused(await api.place(**option, quantity="1", price="0.5001"), "price",
                    "option tick")
    _assert_refused(await api.place(**option, quantity="1.5", price="0.50"), "quantity",
                    "whole number")
    assert await _orders(api) == "null"
    placed = await api.place(**option, quantity="1", price="0.05")
    assert placed.status_code == 200, placed.text


async def test_a_multileg_net_price_and_leg_quantities_follow_the_policy(api: Api) -> None:
    chain = api.env.engine.universe.option_chain("KO", api.env.engine.now().date())
    call = [c for c in chain if c.option_type == "call"][-1].symbol
    combo = {"class": "combo", "symbol": "KO", "type": "debit", "duration": "day",
             "side[0]": "buy", "quantity[0]": "100",
             "side[1]": "sell_to_open", "option_symbol[1]": call, "quantity[1]": "1"}
    _assert_refused(await api.place(**combo, price="60.005"), "price", "option tick")
    refused = await api.place(**combo | {"quantity[0]": ARABIC_100}, price="60.00")
    assert refused.status_code == 400, refused.text
    (message,) = _messages(refused)
    assert message.startswith("leg 0: Invalid parameter, quantity: ")
    assert await _orders(api) == "null"


async def test_valid_numbers_trade(api: Api) -> None:
    for quantity in ("3", " 2 ", "1e1", "4.000"):
        response = await api.place(**EQUITY, quantity=quantity, type="market")
        assert response.status_code == 200, response.text
    resting = await api.place(**EQUITY, quantity="1", type="limit", price="0.5001")
    assert resting.status_code == 200, resting.text
    orders = (await _orders(api))["order"]
    assert [o["quantity"] for o in orders] == [3, 2, 10, 4, 1]
    assert orders[-1]["price"] == Decimal("0.5001")


async def test_a_change_follows_the_policy(api: Api) -> None:
    placed = await api.place(**EQUITY, quantity="1", type="limit", price="100")
    order_id = body(placed)["order"]["id"]
    path = f"/accounts/{api.account_id}/orders/{order_id}"
    for value in ("100.001", ARABIC_101, "1e400", "1E+9999999999", "nan"):
        _assert_refused(await api.http.put(path, data={"price": value}), "price")
    order = (await api.get(path))["order"]
    assert (order["status"], order["price"]) == ("open", 100)
    changed = await api.http.put(path, data={"price": "101.25"})
    assert changed.status_code == 200, changed.text
    assert (await api.get(path))["order"]["price"] == Decimal("101.25")
