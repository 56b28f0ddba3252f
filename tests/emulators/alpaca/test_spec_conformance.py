"""Every Alpaca emulator answer checked against Alpaca's own OpenAPI specs.

Checked against ``../shared/specs/alpaca`` (never against the adapter): each response
must validate against its schema and use only the field names the spec declares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerlink.core.enums import BrokerType
from brokerlink.emulators import EmulatorEnv, EmulatorServer
from brokerlink.emulators.alpaca.app import ALPACA_FEES, create_app
from tests.emulators.alpaca.spec import MARKET_DATA, check, requires_specs, validator

pytestmark = requires_specs

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
KEYS = {"APCA-API-KEY-ID": "PKSPECTEST01", "APCA-API-SECRET-KEY": "spec-secret-0001"}
ORDER_EXTRAS = frozenset({"source", "subtag"})  # in the spec's own order examples


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    env = EmulatorEnv.create(BrokerType.ALPACA, start=START, fees=ALPACA_FEES)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url, headers=KEYS) as http:
        yield http


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _order(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"qty": "1", "side": "buy", "type": "market", "time_in_force": "day", **fields}
    placed: dict[str, Any] = await _ok(await client.post("/v2/orders", json=body))
    check(placed, "Order", extra_keys=ORDER_EXTRAS)
    return placed


async def _advance(client: httpx.AsyncClient, seconds: int) -> None:
    await _ok(await client.post("/_emulator/clock/advance", json={"seconds": seconds}))


async def test_account(client: httpx.AsyncClient) -> None:
    await _order(client, symbol="AAPL", qty="3")
    account = await _ok(await client.get("/v2/account"))
    check(account, "Account")
    assert account["multiplier"] == "2"
    assert Decimal(account["equity"]) == Decimal(account["cash"]) + \
        Decimal(account["long_market_value"]) + Decimal(account["short_market_value"])


async def test_positions_long_short_and_option(client: httpx.AsyncClient) -> None:
    await _order(client, symbol="AAPL", qty="2")
    await _order(client, symbol="KO", qty="3", side="sell")  # no position: a short
    chain = await _ok(await client.get("/_emulator/options/AAPL"))
    option = chain["contracts"][len(chain["contracts"]) // 2]["symbol"]
    await _order(client, symbol=option, position_intent="buy_to_open")
    positions = await _ok(await client.get("/v2/positions"))
    assert {p["side"] for p in positions} == {"long", "short"}
    assert {p["asset_class"] for p in positions} == {"us_equity", "us_option"}
    for position in positions:
        check(position, "Position")
    single = await _ok(await client.get("/v2/positions/AAPL"))
    check(single, "Position")


async def test_orders_in_every_reachable_status(client: httpx.AsyncClient) -> None:
    filled = await _order(client, symbol="AAPL")
    assert filled["status"] == "filled"
    await _ok(await client.post("/_emulator/prices", json={"symbol": "JPM", "price": "240"}))
    resting = await _order(client, symbol="JPM", type="limit", limit_price="200")
    assert resting["status"] == "new"
    replaced = await _ok(await client.patch(f"/v2/orders/{resting['id']}",
                                            json={"limit_price": "201"}))
    check(replaced, "Order", extra_keys=ORDER_EXTRAS)
    assert replaced["replaces"] == resting["id"]
    old = await _ok(await client.get(f"/v2/orders/{resting['id']}"))
    assert (old["status"], old["replaced_by"]) == ("replaced", replaced["id"])
    cancel = await client.delete(f"/v2/orders/{replaced['id']}")
    assert (cancel.status_code, cancel.content) == (204, b"")
    partial = await _order(client, symbol="F", qty="6000")  # beyond one quote's size
    assert partial["status"] == "partially_filled"
    expiring = await _order(client, symbol="KO", type="limit", limit_price="1")
    await _advance(client, 7 * 3600)  # past the close: the day order expires
    queued = await _order(client, symbol="MSFT")  # market closed: queued
    assert queued["status"] == "accepted"
    by_client = await _ok(await client.get(
        "/v2/orders:by_client_order_id",
        params={"client_order_id": queued["client_order_id"]}))
    assert by_client["id"] == queued["id"]
    everything = await _ok(await client.get("/v2/orders", params={"status": "all"}))
    statuses = {o["status"] for o in everything}
    assert statuses >= {"filled", "replaced", "canceled", "expired", "accepted"}
    assert expiring["id"] in {o["id"] for o in everything}
    assert validator("Order", array=True).is_valid(everything)
    for order in everything:
        check(order, "Order", extra_keys=ORDER_EXTRAS)
    open_orders = await _ok(await client.get("/v2/orders", params={"status": "open"}))
    assert {o["id"] for o in open_orders} >= {queued["id"]}


async def test_activities_fills_and_cash(client: httpx.AsyncClient) -> None:
    await _order(client, symbol="PEP", qty="3")
    activities = await _ok(await client.get("/v2/account/activities"))
    kinds = {a["activity_type"] for a in activities}
    assert kinds == {"FILL", "CSD"}
    for activity in activities:
        # NonTradeActivities.date is "date-time" in the schema, but the spec's own
        # example (and Alpaca's API) sends a plain date ("2019-08-01"): we follow the
        # example and accept a date there.
        check(activity, "TradingActivities" if activity["activity_type"] == "FILL"
              else "NonTradeActivities", date_only=frozenset({"date"}))
    fills = await _ok(await client.get("/v2/account/activities/FILL"))
    assert [f["symbol"] for f in fills] == ["PEP"]
    cash = await _ok(await client.get("/v2/account/activities/CSD"))
    assert [c["net_amount"] for c in cash] == ["100000"]


async def test_assets_clock_and_calendar(client: httpx.AsyncClient) -> None:
    assets = await _ok(await client.get("/v2/assets"))
    for asset in assets:
        check(asset, "Assets")
    check(await _ok(await client.get("/v2/assets/AAPL")), "Assets")
    clock = await _ok(await client.get("/v2/clock"))
    check(clock, "legacy_clock")
    assert clock["is_open"] is True
    calendar = await _ok(await client.get("/v2/calendar",
                                          params={"start": "2026-11-23", "end": "2026-11-30"}))
    assert [d["date"] for d in calendar] == ["2026-11-23", "2026-11-24", "2026-11-25",
                                             "2026-11-27", "2026-11-30"]
    assert calendar[3]["close"] == "13:00"  # the day after Thanksgiving
    assert validator("legacy_public_calendar_resp").is_valid(calendar)
    for day in calendar:
        check(day, "legacy_calendar_day")


async def test_quotes(client: httpx.AsyncClient) -> None:
    single = await _ok(await client.get("/v2/stocks/AAPL/quotes/latest"))
    check(single, "stock_latest_quotes_resp_single", api=MARKET_DATA)
    check(single["quote"], "stock_quote", api=MARKET_DATA)
    multi = await _ok(await client.get("/v2/stocks/quotes/latest",
                                       params={"symbols": "AAPL,TSLA,ZZZQX"}))
    check(multi, "stock_latest_quotes_resp", api=MARKET_DATA)
    assert set(multi["quotes"]) == {"AAPL", "TSLA"}
    chain = await _ok(await client.get("/_emulator/options/AAPL"))
    option = chain["contracts"][0]["symbol"]
    options = await _ok(await client.get("/v1beta1/options/quotes/latest",
                                         params={"symbols": option}))
    check(options, "option_latest_quotes_resp", api=MARKET_DATA)
    check(options["quotes"][option], "option_quote", api=MARKET_DATA)
    trades = await _ok(await client.get("/v2/stocks/trades/latest",
                                        params={"symbols": "AAPL,ZZZQX"}))
    check(trades, "stock_latest_trades_resp", api=MARKET_DATA)
    assert set(trades["trades"]) == {"AAPL"}
    check(trades["trades"]["AAPL"], "stock_trade", api=MARKET_DATA)
    one = await _ok(await client.get("/v2/stocks/AAPL/trades/latest"))
    check(one, "stock_latest_trades_resp_single", api=MARKET_DATA)
    option_trades = await _ok(await client.get("/v1beta1/options/trades/latest",
                                               params={"symbols": option}))
    check(option_trades, "option_latest_trades_resp", api=MARKET_DATA)
    check(option_trades["trades"][option], "option_trade", api=MARKET_DATA)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"symbol": "AAPL", "qty": "1000000"}, 403, 40310000, "insufficient buying power"),
        ({"symbol": "ZZZQX"}, 422, 42210000, 'asset "ZZZQX" not found'),
        ({"symbol": "AAPL", "type": "limit"}, 422, 42210000, None),
        ({"symbol": "AAPL", "type": "bogus"}, 422, 42210000, "invalid order type"),
    ],
)
async def test_order_error_bodies(client: httpx.AsyncClient, body: dict[str, Any], status: int,
                                  code: int, message: str | None) -> None:
    full = {"qty": "1", "side": "buy", "type": "market", "time_in_force": "day", **body}
    response = await client.post("/v2/orders", json=full)
    assert response.status_code == status
    error = response.json()
    check(error, "Error", extra_keys=frozenset({"buying_power", "cost_basis"}))
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message


async def test_other_error_bodies(client: httpx.AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for response in (await client.get(f"/v2/orders/{missing}"),
                     await client.delete(f"/v2/orders/{missing}"),
                     await client.get("/v2/positions/AAPL"),
                     await client.get("/v2/assets/ZZZQX")):
        assert response.status_code == 404
        check(response.json(), "Error")
    await _order(client, symbol="KO", qty="5")
    oversell = await client.post("/v2/orders", json={
        "symbol": "KO", "qty": "6", "side": "sell", "type": "market", "time_in_force": "day"})
    assert oversell.status_code == 403
    check(oversell.json(), "Error", extra_keys=frozenset({"available"}))
    assert oversell.json()["message"].startswith("insufficient qty available")
    unauthorized = await client.get("/v2/account", headers={"APCA-API-SECRET-KEY": "wrong-one"})
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"message": "unauthorized."})
    check(unauthorized.json(), "ErrorResponse")
    await _ok(await client.post("/_emulator/faults", json={
        "kind": "rate_limit", "path": "/v2/account", "count": 1, "retry_after": 3}))
    limited = await client.get("/v2/account")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    check(limited.json(), "Error")


async def test_rate_limit_headers_on_every_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/account")
    assert response.headers["x-ratelimit-limit"] == "200"
    assert int(response.headers["x-ratelimit-remaining"]) == 199
    assert int(response.headers["x-ratelimit-reset"]) > 0
    assert response.headers["x-request-id"]
