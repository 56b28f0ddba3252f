"""The adapter's wire models parse Tradier's documented payloads, in every collection
form (the string "null", one object, an array)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerlink.adapters.tradier.wire import (
    WireBalances,
    WireHistoryEvent,
    WireOrder,
    WireOrderAck,
    WireOrderEvent,
    WireOrderPreview,
    WirePosition,
    WireProfile,
    WireQuotes,
    WireStreamSession,
    many,
    unwrap,
)
from tests.adapters.tradier.payloads import payload


@pytest.mark.parametrize(("value", "expected"), [
    ("null", []),
    (None, []),
    ({"order": "null"}, []),
    ({"order": {"id": 1}}, [{"id": 1}]),
    ({"order": [{"id": 1}, {"id": 2}]}, [{"id": 1}, {"id": 2}]),
])
def test_unwrap_accepts_every_collection_form(value: object, expected: list[object]) -> None:
    assert unwrap(value, "order") == expected


def test_unwrap_refuses_other_shapes() -> None:
    with pytest.raises(ValueError, match="null"):
        unwrap(42, "order")


def test_many_wraps_a_single_object() -> None:
    assert many({"a": 1}) == [{"a": 1}]
    assert many("null") == []


def test_profile_with_two_accounts() -> None:
    profile = WireProfile.model_validate(payload("profile")["profile"])
    assert [a.account_number for a in profile.account] == ["VA000001", "VA000003"]
    assert profile.account[0].option_level == 6
    assert profile.account[1].type == "cash"
    assert profile.account[0].date_created == datetime(2016, 8, 1, 21, 8, 55, tzinfo=UTC)


def test_profile_with_one_account_object() -> None:
    body = payload("profile")["profile"]
    single = {**body, "account": body["account"][0]}
    assert [a.account_number for a in WireProfile.model_validate(single).account] == \
        ["VA000001"]


@pytest.mark.parametrize(("name", "variant"), [
    ("balances_margin", "margin"), ("balances_cash", "cash"), ("balances_pdt", "pdt")])
def test_balances_variants(name: str, variant: str) -> None:
    balances = WireBalances.model_validate(payload(name)["balances"])
    assert balances.account_type == variant
    assert balances.total_equity == Decimal("17798.36")
    assert isinstance(balances.total_cash, Decimal)
    present = {k for k in ("margin", "cash", "pdt") if getattr(balances, k) is not None}
    assert present == {variant}


@pytest.mark.parametrize(("name", "count"), [
    ("positions_many", 2), ("positions_one", 1), ("positions_null", 0)])
def test_positions_in_every_form(name: str, count: int) -> None:
    items = [WirePosition.model_validate(p)
             for p in unwrap(payload(name)["positions"], "position")]
    assert len(items) == count
    if items:
        assert items[0].cost_basis == Decimal("207.01")
        assert items[0].quantity == Decimal("1.0")


@pytest.mark.parametrize(("name", "count"), [
    ("orders_many", 3), ("orders_one", 1), ("orders_null", 0)])
def test_orders_in_every_form(name: str, count: int) -> None:
    orders = [WireOrder.model_validate(o) for o in unwrap(payload(name)["orders"], "order")]
    assert len(orders) == count


def test_order_fields_and_legs() -> None:
    orders = [WireOrder.model_validate(o)
              for o in unwrap(payload("orders_many")["orders"], "order")]
    limit, option, combo = orders
    assert limit.price == Decimal("22.0")
    assert limit.order_class == "equity"
    assert limit.create_date == datetime(2018, 6, 1, 12, 2, 29, 682000, tzinfo=UTC)
    assert option.option_symbol == "SPY180720C00274000"
    assert combo.order_class == "combo"
    assert [leg.id for leg in combo.leg] == [229064, 229065]
    single_leg = WireOrder.model_validate({**payload("orders_many")["orders"]["order"][2],
                                           "leg": {"id": 1, "type": "debit", "symbol": "SPY",
                                                   "side": "buy", "quantity": 1,
                                                   "status": "open"}})
    assert [leg.id for leg in single_leg.leg] == [1]


def test_single_order_envelope() -> None:
    order = WireOrder.model_validate(payload("order_one")["order"])
    assert order.id == 228175
    assert order.status == "expired"


def test_ack_and_preview() -> None:
    ack = WireOrderAck.model_validate(payload("order_ack")["order"])
    assert ack.id == 257459
    assert ack.status == "ok"
    preview = WireOrderPreview.model_validate(payload("order_preview")["order"])
    assert preview.cost == Decimal("34.7151")
    assert preview.commission == Decimal("3.49")
    assert preview.result is True


def test_history_events_and_details() -> None:
    events = [WireHistoryEvent.model_validate(e)
              for e in unwrap(payload("history")["history"], "event")]
    trade, dividend, option, journal = events
    assert trade.trade is not None
    assert trade.trade.quantity == Decimal("-1.0")
    assert dividend.detail is not None
    assert dividend.detail.description == "GENERAL ELECTRIC COMPANY"
    assert option.detail is not None
    assert option.detail.option_type == "OPTEXP"
    assert journal.amount == Decimal("-3000.0")


def test_quotes_with_unmatched_symbol() -> None:
    quotes = WireQuotes.model_validate(payload("quotes_one_unmatched")["quotes"])
    assert [q.symbol for q in quotes.quote] == ["AAPL"]
    assert quotes.unmatched == ["SEFDF"]
    quote = quotes.quote[0]
    assert quote.close is None
    assert quote.trade_date == datetime(2024, 1, 12, 16, 4, 42, 942000, tzinfo=UTC)
    assert quote.bid == Decimal("185.74")


def test_quotes_with_only_unmatched_and_with_null() -> None:
    only = WireQuotes.model_validate(payload("quotes_unmatched_only")["quotes"])
    assert only.quote == []
    assert only.unmatched == ["SEFDF"]
    assert WireQuotes.model_validate("null").quote == []
    several = WireQuotes.model_validate({"unmatched_symbols": {"symbol": ["A1", "B2"]}})
    assert several.unmatched == ["A1", "B2"]


def test_stream_payloads() -> None:
    session = WireStreamSession.model_validate(payload("stream_session")["stream"])
    assert session.url.startswith("wss://")
    event = WireOrderEvent.model_validate(payload("stream_order"))
    assert event.status == "filled"
    assert event.exec_quantity == Decimal("2.0")
