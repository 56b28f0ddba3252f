"""Wire -> core mapping on documented payloads: statuses, positions derived from quotes,
balance variants, orders and legs, history, and the tag that carries client order ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerlink.adapters.tradier import mapping
from brokerlink.adapters.tradier.wire import (
    WireBalances,
    WireHistoryEvent,
    WireOrder,
    WireOrderEvent,
    WirePosition,
    WireQuote,
    unwrap,
)
from brokerlink.core.enums import (
    AccountType,
    AssetType,
    DataSource,
    OptionType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import InvalidOrderError
from brokerlink.core.extras import MultiLegOrderRequest, OrderLeg
from brokerlink.core.models import OrderModify, OrderRequest
from tests.adapters.tradier.payloads import payload

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "status"), [
    ("open", OrderStatus.NEW),
    ("partially_filled", OrderStatus.PARTIALLY_FILLED),
    ("filled", OrderStatus.FILLED),
    ("expired", OrderStatus.EXPIRED),
    ("canceled", OrderStatus.CANCELED),
    ("pending", OrderStatus.PENDING_NEW),
    ("rejected", OrderStatus.REJECTED),
    ("error", OrderStatus.REJECTED),
    ("calculated", OrderStatus.PENDING_NEW),
    ("accepted_for_bidding", OrderStatus.NEW),
    ("held", OrderStatus.PENDING_NEW),
    ("something_new", OrderStatus.UNKNOWN),
])
def test_every_status_has_a_row(raw: str, status: OrderStatus) -> None:
    assert mapping.order_status_from_wire(raw) is status


def test_unknown_status_keeps_the_raw_value() -> None:
    wire = WireOrder.model_validate({**payload("order_one")["order"], "status": "on_hold_x"})
    order = mapping.order_from_wire(wire, account_id="VA1", as_of=NOW)
    assert order.status is OrderStatus.UNKNOWN
    assert order.raw_status == "on_hold_x"


def test_orders_map_with_duration_option_fields_and_tag() -> None:
    wires = [WireOrder.model_validate(o)
             for o in unwrap(payload("orders_many")["orders"], "order")]
    limit = mapping.order_from_wire(wires[0], account_id="VA1", as_of=NOW)
    assert limit.order_type is OrderType.LIMIT
    assert limit.limit_price == Decimal("22.0")
    assert limit.extended_hours
    assert limit.time_in_force is TimeInForce.DAY
    assert limit.status is OrderStatus.EXPIRED
    assert limit.expired_at == datetime(2018, 6, 1, 12, 30, 2, 385000, tzinfo=UTC)
    option = mapping.order_from_wire(wires[1], account_id="VA1", as_of=NOW)
    assert option.asset_type is AssetType.OPTION
    assert option.option_type is OptionType.CALL
    assert option.strike == Decimal("274")
    assert option.side is OrderSide.BUY_TO_OPEN
    tagged = mapping.order_from_wire(wires[0].model_copy(update={"tag": "bl-1"}), account_id="VA1",
                              as_of=NOW)
    assert tagged.client_order_id == "bl-1"


def test_flatten_turns_a_combo_into_its_legs_with_the_parent_tag() -> None:
    wires = [WireOrder.model_validate(o)
             for o in unwrap(payload("orders_many")["orders"], "order")]
    combo = wires[2].model_copy(update={"tag": "bl-combo"})
    legs = mapping.flatten([wires[0], combo])
    assert [w.id for w in legs] == [228175, 229064, 229065]
    assert {w.tag for w in legs[1:]} == {"bl-combo"}


def test_positions_derive_prices_from_quotes() -> None:
    position = WirePosition.model_validate(
        unwrap(payload("positions_many")["positions"], "position")[1])
    quote = WireQuote.model_validate({"symbol": "IBM", "last": Decimal("140.00")})
    mapped = mapping.position_from_wire(position, quote, account_id="VA1", as_of=NOW)
    assert mapped.quantity == 13
    assert mapped.average_cost == Decimal("1772.54") / 13
    assert mapped.market_value == Decimal("1820.00")
    assert mapped.unrealized_pnl == Decimal("1820.00") - Decimal("1772.54")
    unknown = mapping.position_from_wire(position, None, account_id="VA1", as_of=NOW)
    assert unknown.current_price is None
    assert unknown.market_value is None


def test_option_position_uses_the_multiplier() -> None:
    wire = WirePosition(cost_basis=Decimal("250.00"), id=1, quantity=Decimal(2),
                        symbol="SPY180720C00274000")
    quote = WireQuote.model_validate({"symbol": "SPY180720C00274000", "last": "1.50"})
    mapped = mapping.position_from_wire(wire, quote, account_id="VA1", as_of=NOW)
    assert mapped.asset_type is AssetType.OPTION
    assert mapped.average_cost == Decimal("1.25")
    assert mapped.market_value == Decimal("300.00")
    assert mapped.underlying == "SPY"


@pytest.mark.parametrize(("name", "buying_power"), [
    ("balances_margin", Decimal("12727.72")),
    ("balances_pdt", Decimal("12727.72")),
    ("balances_cash", Decimal("4343.38")),
])
def test_balances_variants(name: str, buying_power: Decimal) -> None:
    wire = WireBalances.model_validate(payload(name)["balances"])
    balances = mapping.balances_from_wire(wire, as_of=NOW)
    assert balances.buying_power == buying_power
    assert balances.total_value == Decimal("17798.36")
    assert balances.cash == Decimal("6363.86")
    assert balances.market_value == Decimal("11434.5")


def test_account_types() -> None:
    from brokerlink.adapters.tradier.wire import WireProfile

    accounts = WireProfile.model_validate(payload("profile")["profile"]).account
    margin = mapping.account_from_wire(accounts[0], as_of=NOW)
    ira = mapping.account_from_wire(accounts[1], as_of=NOW)
    assert margin.account_type is AccountType.MARGIN
    assert margin.can_trade_options
    assert ira.account_type is AccountType.IRA
    assert not ira.can_trade_margin


def test_history_maps_to_transactions() -> None:
    events = [WireHistoryEvent.model_validate(e)
              for e in unwrap(payload("history")["history"], "event")]
    mapped = [mapping.transaction_from_wire(e, account_id="VA1", as_of=NOW) for e in events]
    assert [t.type for t in mapped] == [TransactionType.FILL, TransactionType.DIVIDEND,
                                        TransactionType.OTHER, TransactionType.TRANSFER]
    assert mapped[0].side is OrderSide.SELL
    assert mapped[0].quantity == Decimal("1.0")
    assert len({t.transaction_id for t in mapped}) == 4
    deposit = WireHistoryEvent.model_validate(
        {"amount": 500, "date": "2018-05-23T00:00:00Z", "type": "ach",
         "ach": {"description": "ACH DEPOSIT", "quantity": 0}})
    assert mapping.transaction_from_wire(deposit, account_id="VA1", as_of=NOW).type is \
        TransactionType.DEPOSIT


def test_fill_from_order() -> None:
    wire = WireOrder.model_validate({**payload("order_one")["order"], "status": "filled",
                                     "exec_quantity": 50, "avg_fill_price": Decimal("21.5")})
    fill = mapping.fill_from_wire(wire, account_id="VA1", as_of=NOW)
    assert fill is not None
    assert fill.order_id == "228175"
    assert fill.amount == Decimal("-1075.0")
    assert mapping.fill_from_wire(WireOrder.model_validate(payload("order_one")["order"]),
                                   account_id="VA1", as_of=NOW) is None


def test_order_forms() -> None:
    equity = OrderRequest(symbol="AAPL", side="buy", quantity=10, order_type="limit",
                          limit_price="150.5", client_order_id="bl-abc")
    assert mapping.order_to_wire(equity, before_open=False).to_wire() == {
        "class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "10",
        "type": "limit", "duration": "day", "tag": "bl-abc", "price": "150.5"}
    option = OrderRequest(symbol="SPY180720C00274000", side="buy_to_open", quantity=1,
                          client_order_id="bl-opt")
    form = mapping.order_to_wire(option, before_open=False).to_wire()
    assert form["class"] == "option"
    assert form["symbol"] == "SPY"
    assert form["option_symbol"] == "SPY180720C00274000"
    extended = OrderRequest(symbol="AAPL", side="buy", quantity=1, order_type="limit",
                            limit_price=1, extended_hours=True)
    assert mapping.order_to_wire(extended, before_open=True).duration == "pre"
    assert mapping.order_to_wire(extended, before_open=False).duration == "post"
    assert mapping.modify_to_wire(OrderModify(limit_price=Decimal("2.50"),
                                              time_in_force=TimeInForce.GTC)).to_wire() == \
        {"price": "2.5", "duration": "gtc"}
    # A preview is the same form with preview=true; amounts never go out in exponent form.
    preview = mapping.order_to_wire(equity, before_open=False).model_copy(
        update={"preview": True, "quantity": Decimal("1E+2")}).to_wire()
    assert (preview["preview"], preview["quantity"]) == (True, "100")


def test_multileg_orders_go_out_with_indexed_legs() -> None:
    spread = MultiLegOrderRequest(
        underlying="SPY", price_type="debit", price=Decimal("1.20"),
        time_in_force=TimeInForce.GTC, client_order_id="bl-spread",
        legs=[OrderLeg(symbol="SPY180720C00274000", side="buy_to_open", quantity=1),
              OrderLeg(symbol="SPY180720C00280000", side="sell_to_open", quantity=1)])
    form = mapping.multileg_order_to_wire(spread).to_wire()
    assert form == {
        "class": "multileg", "symbol": "SPY", "type": "debit", "duration": "gtc",
        "price": "1.2", "tag": "bl-spread",
        "side[0]": "buy_to_open", "quantity[0]": "1",
        "option_symbol[0]": "SPY180720C00274000",
        "side[1]": "sell_to_open", "quantity[1]": "1",
        "option_symbol[1]": "SPY180720C00280000"}
    covered = MultiLegOrderRequest(
        underlying="KO", client_order_id="bl-covered",
        legs=[OrderLeg(symbol="KO", side="buy", quantity=100),
              OrderLeg(symbol="KO181019C00045000", side="sell_to_open", quantity=1)])
    combo = mapping.multileg_order_to_wire(covered).to_wire()
    assert (combo["class"], combo["type"], combo["duration"]) == ("combo", "market", "day")
    assert "option_symbol[0]" not in combo
    with pytest.raises(InvalidOrderError) as raised:
        mapping.multileg_order_to_wire(covered.model_copy(
            update={"time_in_force": TimeInForce.IOC}))
    assert raised.value.field == "time_in_force"


def test_multileg_requests_are_checked_before_any_io() -> None:
    legs = [OrderLeg(symbol="KO", side="buy", quantity=100),
            OrderLeg(symbol="KO181019C00045000", side="sell_to_open", quantity=1)]
    with pytest.raises(InvalidOrderError) as priced:
        MultiLegOrderRequest(underlying="KO", legs=legs, price_type="credit")
    assert priced.value.field == "price"
    with pytest.raises(InvalidOrderError) as single:
        MultiLegOrderRequest(underlying="KO", legs=legs[:1])
    assert single.value.field == "legs"
    with pytest.raises(InvalidOrderError) as fractional:
        MultiLegOrderRequest(underlying="KO", legs=[
            legs[0], OrderLeg(symbol="KO181019C00045000", side="sell_to_open",
                              quantity=Decimal("0.5"))])
    assert fractional.value.field == "legs.1.quantity"


def test_stream_messages_lay_their_facts_over_the_known_order() -> None:
    known = mapping.order_from_wire(
        WireOrder.model_validate(payload("orders_many")["orders"]["order"][0]),
        account_id="VA1", as_of=NOW)
    event = WireOrderEvent.model_validate({
        "id": int(known.order_id), "event": "order", "status": "filled",
        "exec_quantity": known.quantity, "avg_fill_price": Decimal("150.25"),
        "transaction_date": "2026-11-23T15:01:00.000Z", "tag": "bl-x"})
    merged = mapping.streamed_order_from_wire(known, event)
    assert merged.status is OrderStatus.FILLED
    assert merged.filled_quantity == known.quantity
    assert merged.average_fill_price == Decimal("150.25")
    assert merged.filled_at == datetime(2026, 11, 23, 15, 1, tzinfo=UTC)
    assert (merged.client_order_id, merged.symbol, merged.side) == (
        "bl-x", known.symbol, known.side)
    assert merged.source is DataSource.STREAM


def test_client_order_ids_travel_as_tags_only_when_they_fit() -> None:
    assert mapping.client_order_id_to_wire("bl-0123abc") == "bl-0123abc"
    with pytest.raises(InvalidOrderError) as raised:
        mapping.client_order_id_to_wire("my_order.1")
    assert raised.value.field == "client_order_id"
