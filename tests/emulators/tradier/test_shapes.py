"""The Tradier emulator's payloads against REFERENCE.md's (restated in
tests/fixtures/tradier): same field names, same JSON types, the collection quirk
("null" / one object / an array), error bodies, statuses and headers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from brokerlink.core.enums import AccountType
from tests.adapters.tradier.payloads import payload
from tests.emulators.tradier.conftest import Api, body

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NULLABLE = frozenset({"open", "high", "low", "close", "week_52_high", "week_52_low"})
"""Quote fields the simulation has no value for; Tradier itself writes null for
``close`` in the documented example."""


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | Decimal):
        return "number"
    return type(value).__name__


def assert_like(actual: dict[str, Any], reference: dict[str, Any], *,
                ignore: frozenset[str] = frozenset()) -> None:
    """Same keys as the reference, each with the reference's JSON type."""
    assert set(actual) - ignore == set(reference) - ignore
    for key, expected in reference.items():
        if key in ignore:
            continue
        if key in NULLABLE and actual[key] is None:
            continue
        if expected is None:
            continue
        assert kind(actual[key]) == kind(expected), key


async def test_profile_lists_one_account_as_an_object(api: Api) -> None:
    reference = payload("profile")["profile"]
    profile = (await api.get("/user/profile"))["profile"]
    assert set(profile) == set(reference)
    assert isinstance(profile["account"], dict)
    assert_like(profile["account"], reference["account"][0])
    assert ISO_MS.match(profile["account"]["date_created"])


async def test_balances_margin_cash_and_pdt(api: Api) -> None:
    margin = (await api.get(f"/accounts/{api.account_id}/balances"))["balances"]
    assert_like(margin, payload("balances_margin")["balances"])
    assert_like(margin["margin"], payload("balances_margin")["balances"]["margin"])
    assert margin["total_equity"] == margin["total_cash"] + margin["market_value"]

    api.tradier.state.pdt_accounts.add(api.account_id)
    pdt = (await api.get(f"/accounts/{api.account_id}/balances"))["balances"]
    assert_like(pdt, payload("balances_pdt")["balances"])
    assert_like(pdt["pdt"], payload("balances_pdt")["balances"]["pdt"])

    cash_id = api.env.engine.open_account(account_type=AccountType.CASH)
    api.env.accounts.register_bearer("cash-account-token", cash_id, None)
    response = await api.http.get(f"/accounts/{cash_id}/balances",
                                  headers={"Authorization": "Bearer cash-account-token"})
    cash = body(response)["balances"]
    assert_like(cash, payload("balances_cash")["balances"])
    assert_like(cash["cash"], payload("balances_cash")["balances"]["cash"])


async def test_positions_null_then_object_then_array(api: Api) -> None:
    path = f"/accounts/{api.account_id}/positions"
    assert await api.get(path) == payload("positions_null")
    await api.buy("AAPL", 2)
    one = (await api.get(path))["positions"]
    assert isinstance(one["position"], dict)
    assert_like(one["position"], payload("positions_one")["positions"]["position"])
    assert one["position"]["quantity"] == 2
    assert ISO_MS.match(one["position"]["date_acquired"])
    await api.buy("MSFT", 1)
    many = (await api.get(path))["positions"]["position"]
    assert isinstance(many, list)
    assert [p["symbol"] for p in many] == ["AAPL", "MSFT"]


async def test_orders_null_then_object_then_array(api: Api) -> None:
    path = f"/accounts/{api.account_id}/orders"
    assert await api.get(path) == payload("orders_null")
    response = await api.place(**{"class": "equity"}, symbol="AAPL", side="buy",
                               quantity="50", type="limit", price="22.00", duration="pre")
    ack = body(response)
    assert response.status_code == 200
    assert_like(ack["order"], payload("order_ack")["order"])
    one = (await api.get(path))["orders"]
    assert isinstance(one["order"], dict)
    assert_like(one["order"], payload("orders_one")["orders"]["order"])
    assert one["order"]["status"] == "open"
    assert ISO_MS.match(one["order"]["create_date"])
    await api.buy("KO")
    many = (await api.get(path))["orders"]["order"]
    assert isinstance(many, list)
    assert [o["id"] for o in many] == sorted(o["id"] for o in many)


async def test_option_order_shape(api: Api) -> None:
    chain = api.env.engine.universe.option_chain("AAPL", api.env.engine.now().date())
    contract = chain[len(chain) // 2].symbol
    response = await api.place(**{"class": "option"}, symbol="AAPL", option_symbol=contract,
                               side="buy_to_open", quantity="1", type="market",
                               duration="day")
    order_id = body(response)["order"]["id"]
    order = (await api.get(f"/accounts/{api.account_id}/orders/{order_id}"))["order"]
    reference = payload("orders_many")["orders"]["order"][1]
    assert_like(order, reference)
    assert order["symbol"] == "AAPL"
    assert order["option_symbol"] == contract
    position = (await api.get(f"/accounts/{api.account_id}/positions"))["positions"]
    assert position["position"]["symbol"] == contract


async def test_combo_order_has_legs(api: Api) -> None:
    chain = api.env.engine.universe.option_chain("KO", api.env.engine.now().date())
    call = [c for c in chain if c.option_type == "call"][-1].symbol
    response = await api.place(**{"class": "combo", "side[0]": "buy", "quantity[0]": "100",
                                  "side[1]": "sell_to_open", "option_symbol[1]": call,
                                  "quantity[1]": "1"}, symbol="KO", type="debit",
                               price="60.00", duration="day")
    order_id = body(response)["order"]["id"]
    order = (await api.get(f"/accounts/{api.account_id}/orders/{order_id}"))["order"]
    reference = payload("orders_many")["orders"]["order"][2]
    assert set(order) == set(reference)
    assert order["class"] == "combo"
    assert order["num_legs"] == 2
    assert [leg["class"] for leg in order["leg"]] == ["equity", "option"]


async def test_tags_only_with_include_tags(api: Api) -> None:
    await api.place(**{"class": "equity"}, symbol="AAPL", side="buy", quantity="1",
                    type="market", duration="day", tag="bl-abc-123")
    plain = (await api.get(f"/accounts/{api.account_id}/orders"))["orders"]["order"]
    tagged = (await api.get(f"/accounts/{api.account_id}/orders",
                            includeTags="true"))["orders"]["order"]
    assert "tag" not in plain
    assert tagged["tag"] == "bl-abc-123"


async def test_preview_shape_and_nothing_placed(api: Api) -> None:
    response = await api.place(**{"class": "equity"}, symbol="T", side="buy", quantity="1",
                               type="market", duration="day", preview="true")
    preview = body(response)["order"]
    assert_like(preview, payload("order_preview")["order"])
    assert await api.get(f"/accounts/{api.account_id}/orders") == payload("orders_null")


async def test_change_keeps_the_id_and_cancel_answers_ok(api: Api) -> None:
    response = await api.place(**{"class": "equity"}, symbol="AAPL", side="buy",
                               quantity="1", type="limit", price="100.00", duration="day")
    order_id = body(response)["order"]["id"]
    changed = await api.http.put(f"/accounts/{api.account_id}/orders/{order_id}",
                                 data={"price": "101.50", "duration": "gtc"})
    assert body(changed) == {"order": {"id": order_id, "status": "ok",
                                       "partner_id": body(response)["order"]["partner_id"]}}
    order = (await api.get(f"/accounts/{api.account_id}/orders/{order_id}"))["order"]
    assert order["price"] == Decimal("101.50")
    assert order["duration"] == "gtc"
    canceled = await api.http.delete(f"/accounts/{api.account_id}/orders/{order_id}")
    assert body(canceled) == {"order": {"id": order_id, "status": "ok"}}
    again = await api.http.delete(f"/accounts/{api.account_id}/orders/{order_id}")
    assert again.status_code == 400
    assert "canceled" in body(again)["errors"]["error"]


async def test_history_object_then_array(api: Api) -> None:
    path = f"/accounts/{api.account_id}/history"
    first = (await api.get(path))["history"]
    assert isinstance(first["event"], dict)
    assert first["event"]["type"] == "ach"
    await api.buy("AAPL", 1)
    events = (await api.get(path))["history"]["event"]
    trade = events[0]
    reference = payload("history")["history"]["event"][0]
    assert_like(trade, reference)
    assert_like(trade["trade"], reference["trade"])
    assert trade["date"].endswith("T00:00:00Z")
    assert (await api.get(path, type="trade"))["history"]["event"]["type"] == "trade"


async def test_quotes_single_many_and_unmatched(api: Api) -> None:
    reference = payload("quotes_one_unmatched")["quotes"]
    single = (await api.get("/markets/quotes", symbols="AAPL,SEFDF"))["quotes"]
    assert_like(single["quote"], reference["quote"])
    assert single["unmatched_symbols"] == reference["unmatched_symbols"]
    assert single["quote"]["trade_date"] > 10**12
    assert isinstance(single["quote"]["bidsize"], int)
    many = (await api.get("/markets/quotes", symbols="AAPL,MSFT"))["quotes"]
    assert [q["symbol"] for q in many["quote"]] == ["AAPL", "MSFT"]
    assert "unmatched_symbols" not in many
    assert await api.get("/markets/quotes", symbols="SEFDF") == \
        payload("quotes_unmatched_only")
    posted = await api.http.post("/markets/quotes", data={"symbols": "AAPL"})
    assert body(posted)["quotes"]["quote"]["symbol"] == "AAPL"


async def test_option_quote_fields(api: Api) -> None:
    chain = api.env.engine.universe.option_chain("AAPL", api.env.engine.now().date())
    quote = (await api.get("/markets/quotes", symbols=chain[0].symbol,
                           greeks="true"))["quotes"]["quote"]
    for key in ("underlying", "strike", "open_interest", "contract_size", "expiration_date",
                "expiration_type", "option_type", "root_symbol", "greeks"):
        assert key in quote
    assert quote["type"] == "option"


async def test_clock(api: Api) -> None:
    clock = (await api.get("/markets/clock"))["clock"]
    assert clock["state"] == "open"
    assert clock["next_state"] == "postmarket"
    assert clock["timestamp"] == int(api.env.engine.now().timestamp())
