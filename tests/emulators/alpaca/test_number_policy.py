"""Issue 19 item 7 on the Alpaca emulator, over a real loopback socket: the numbers of a
place or replace request follow the core Decimal policy. Garbage (``1e-400``, ``١٢``,
``1e400``, ``1E+9999999999``, NaN, booleans), quantities finer than Alpaca's 9 places or
fractional options, prices off the US tick and values above the bounds are answered 422
``{"code": 40010001, "message": ...}`` naming the field (Alpaca's invalid-parameter
answer in its OpenAPI spec), never a 500 and never an order. Valid orders, alpaca-py's
typed requests among them, still trade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerlink.core.enums import BrokerType
from brokerlink.emulators import EmulatorEnv, EmulatorServer
from brokerlink.emulators.alpaca.app import ALPACA_FEES, create_app, create_env

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
KEYS = {"APCA-API-KEY-ID": "PKNUMBERS001", "APCA-API-SECRET-KEY": "numbers-secret-01"}
INVALID_PARAMETER = 40010001


@pytest.fixture
async def alpaca() -> AsyncIterator[tuple[EmulatorEnv, httpx.AsyncClient]]:
    env = EmulatorEnv.create(BrokerType.ALPACA, start=START, fees=ALPACA_FEES)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url, headers=KEYS) as http:
        yield env, http


def _option(env: EmulatorEnv) -> str:
    chain = env.engine.universe.option_chain("AAPL", env.engine.now().date())
    return chain[len(chain) // 2].symbol


async def _all_orders(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/v2/orders", params={"status": "all"})
    assert response.status_code == 200, response.text
    orders: list[dict[str, Any]] = response.json()
    return orders


def _assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == INVALID_PARAMETER
    assert field in body["message"]


MARKET = {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day"}
LIMIT = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
         "time_in_force": "gtc"}

ARABIC_12 = "\u0661\u0662"
"""12 in Arabic-Indic digits, which ``Decimal()`` alone would read as 12."""
GARBAGE = ["1e-400", ARABIC_12, "1e400", "99999999999999999999", "1E+9999999999", "nan",
           "Infinity", "1_0", " ", "0x10", True, [], {"v": 1}]
"""Values no number field may hold: too small, other digits, too large, not finite,
not numbers at all."""


@pytest.mark.parametrize("value", GARBAGE, ids=repr)
async def test_garbage_quantities_are_refused(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient], value: Any) -> None:
    _, http = alpaca
    _assert_refused(await http.post("/v2/orders", json={**MARKET, "qty": value}), "qty")
    assert await _all_orders(http) == []


@pytest.mark.parametrize("field", ["notional", "limit_price", "stop_price", "trail_price",
                                   "trail_percent"])
@pytest.mark.parametrize("value", ["1e-400", ARABIC_12, "1e400", "1E+9999999999", "nan"])
async def test_garbage_amounts_and_prices_are_refused(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient], field: str, value: str) -> None:
    _, http = alpaca
    order: dict[str, Any] = {**MARKET, field: value}
    if field != "notional":
        order["qty"] = "1"
    _assert_refused(await http.post("/v2/orders", json=order), field)
    assert await _all_orders(http) == []


@pytest.mark.parametrize("raw", [b'{"qty": 1e400}', b'{"qty": 1e-400}', b'{"qty": NaN}',
                                 b'{"qty": Infinity}', b'{"qty": -Infinity}'])
async def test_json_numbers_out_of_bounds_are_refused_not_a_crash(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient], raw: bytes) -> None:
    _, http = alpaca
    fields = b'"symbol":"AAPL","side":"buy","type":"market","time_in_force":"day",'
    response = await http.post("/v2/orders", content=b"{" + fields + raw[1:],
                               headers={"Content-Type": "application/json"})
    _assert_refused(response, "qty")
    assert await _all_orders(http) == []


@pytest.mark.parametrize(("order", "field", "rule"), [
    ({**MARKET, "qty": "0.0000000001"}, "qty", "9 decimal places"),
    ({**MARKET, "qty": "0"}, "qty", "greater than 0"),
    ({**MARKET, "qty": "-1"}, "qty", "greater than 0"),
    ({**MARKET, "qty": "1000000001"}, "qty", "limit"),
    ({**MARKET, "notional": "0.0000000001"}, "notional", "9 decimal places"),
    ({**MARKET, "notional": "0"}, "notional", "greater than 0"),
    ({**MARKET, "notional": "1000000001"}, "notional", "limit"),
    ({**MARKET, "notional": "0.000000001"}, "notional", "less than"),
    ({**LIMIT, "limit_price": "0.0000001"}, "limit_price", "hundredths of a cent"),
    ({**LIMIT, "limit_price": "100.001"}, "limit_price", "whole cents"),
    ({**LIMIT, "limit_price": "10000000.01"}, "limit_price", "limit"),
    ({**LIMIT, "limit_price": "-5"}, "limit_price", "greater than 0"),
    ({**LIMIT, "type": "stop", "stop_price": "250.005"}, "stop_price", "whole cents"),
    ({**LIMIT, "type": "trailing_stop", "trail_price": "1.001"}, "trail_price", "cents"),
    ({**LIMIT, "type": "trailing_stop", "trail_percent": "100"}, "trail_percent", "100"),
    ({**LIMIT, "type": "trailing_stop", "trail_percent": "0.00001"}, "trail_percent",
     "4 decimal places"),
])
async def test_numbers_off_the_rules_are_refused(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient], order: dict[str, Any], field: str,
        rule: str) -> None:
    _, http = alpaca
    response = await http.post("/v2/orders", json=order)
    _assert_refused(response, field)
    assert rule in response.json()["message"]
    assert await _all_orders(http) == []


async def test_options_take_whole_contracts_and_cent_prices(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient]) -> None:
    env, http = alpaca
    option = {"symbol": _option(env), "side": "buy", "type": "limit",
              "time_in_force": "day"}
    _assert_refused(await http.post("/v2/orders", json={**option, "qty": "0.5",
                                                        "limit_price": "1.00"}), "qty")
    # Below $1 a share may be priced in hundredths of a cent; an option may not.
    _assert_refused(await http.post("/v2/orders", json={**option, "qty": "1",
                                                        "limit_price": "0.5001"}),
                    "limit_price")
    assert await _all_orders(http) == []
    placed = await http.post("/v2/orders", json={**option, "qty": "1", "limit_price": "0.05"})
    assert placed.status_code == 200, placed.text


@pytest.mark.parametrize(("order", "qty"), [
    ({**MARKET, "qty": "0.000000001"}, "0.000000001"),  # Alpaca's finest fraction
    ({**MARKET, "qty": "1e-7"}, "0.0000001"),  # exponent text is a number too
    ({**MARKET, "qty": " 12 "}, "12"),
    ({**MARKET, "qty": 3}, "3"),  # a JSON number
    ({**MARKET, "qty": "2.50"}, "2.5"),
])
async def test_valid_quantities_trade(alpaca: tuple[EmulatorEnv, httpx.AsyncClient],
                                      order: dict[str, Any], qty: str) -> None:
    _, http = alpaca
    response = await http.post("/v2/orders", json=order)
    assert response.status_code == 200, response.text
    assert response.json()["qty"] == qty
    assert response.json()["status"] == "filled"


async def test_a_sub_dollar_share_limit_in_hundredths_of_a_cent_is_taken(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient]) -> None:
    _, http = alpaca
    response = await http.post("/v2/orders", json={**LIMIT, "limit_price": "0.5001"})
    assert response.status_code == 200, response.text
    assert response.json()["limit_price"] == "0.5001"


async def test_replace_follows_the_policy(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient]) -> None:
    _, http = alpaca
    resting = await http.post("/v2/orders", json={**LIMIT, "limit_price": "100"})
    assert resting.status_code == 200, resting.text
    order_id = resting.json()["id"]
    for change, field in [({"qty": "0.5"}, "qty"),  # "You can only patch full shares"
                          ({"qty": ARABIC_12}, "qty"),
                          ({"qty": "1E+9999999999"}, "qty"),
                          ({"limit_price": "100.001"}, "limit_price"),
                          ({"limit_price": "1e400"}, "limit_price"),
                          ({"limit_price": True}, "limit_price")]:
        _assert_refused(await http.patch(f"/v2/orders/{order_id}", json=change), field)
    # Nothing was replaced: the order still rests at its price.
    (still,) = await _all_orders(http)
    assert (still["id"], still["status"], still["limit_price"]) == (order_id, "new", "100")
    replaced = await http.patch(f"/v2/orders/{order_id}",
                                json={"qty": "2", "limit_price": "101.5"})
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["qty"], replaced.json()["limit_price"]) == ("2", "101.5")


async def test_a_trailing_replace_is_held_to_its_own_kind(
        alpaca: tuple[EmulatorEnv, httpx.AsyncClient]) -> None:
    _, http = alpaca
    trailing = {**LIMIT, "side": "sell", "type": "trailing_stop"}
    await http.post("/v2/orders", json=MARKET | {"qty": "2"})  # something to sell
    by_price = await http.post("/v2/orders", json={**trailing, "trail_price": "2.00"})
    by_percent = await http.post("/v2/orders", json={**trailing, "trail_percent": "1.5"})
    assert by_price.status_code == by_percent.status_code == 200, by_percent.text
    _assert_refused(await http.patch(f"/v2/orders/{by_price.json()['id']}",
                                     json={"trail": "2.001"}), "trail")
    _assert_refused(await http.patch(f"/v2/orders/{by_percent.json()['id']}",
                                     json={"trail": "100"}), "trail")
    ok = await http.patch(f"/v2/orders/{by_percent.json()['id']}", json={"trail": "2.25"})
    assert ok.status_code == 200, ok.text
    assert Decimal(ok.json()["trail_percent"]) == Decimal("2.25")


def test_alpaca_py_typed_requests_still_trade() -> None:
    pytest.importorskip("alpaca", reason="alpaca-py is not installed (pip install -e .[dev])")
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
    from alpaca.trading.requests import (
        LimitOrderRequest,
        MarketOrderRequest,
        ReplaceOrderRequest,
    )

    with EmulatorServer.run_in_thread(create_app(create_env(start=START))) as server:
        client: Any = TradingClient("PKALPACAPY02", "alpaca-py-secret", paper=True,
                                    url_override=server.url)
        fraction = client.submit_order(MarketOrderRequest(
            symbol="AAPL", qty=0.123456789, side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY))
        assert (fraction.status, fraction.qty) == (OrderStatus.FILLED, "0.123456789")
        dollars = client.submit_order(MarketOrderRequest(
            symbol="AAPL", notional=25.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        assert dollars.status is OrderStatus.FILLED
        assert Decimal(dollars.qty) > 0
        limit = client.submit_order(LimitOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
            limit_price=100.25))
        replaced = client.replace_order_by_id(limit.id, ReplaceOrderRequest(
            qty=2, limit_price=100.5))
        assert str(replaced.replaces) == str(limit.id)
        with pytest.raises(APIError) as refused:
            client.submit_order(LimitOrderRequest(
                symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
                limit_price=100.001))
        assert refused.value.status_code == 422
        assert refused.value.code == INVALID_PARAMETER
        assert "limit_price" in refused.value.message
