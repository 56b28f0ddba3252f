"""Local state against fresh reads: material changes, drift, and stream-newer values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from brokerlink.core.enums import OrderSide, OrderStatus, OrderType
from brokerlink.core.models import AccountBalances, Order, Position
from brokerlink.manager.sync_events import SyncEventKind
from brokerlink.manager.sync_sources import MIN_POLL_INTERVAL, ReadBudget
from brokerlink.manager.sync_state import LocalState, Snapshot, position_after_fill

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def balances(cash: str) -> AccountBalances:
    value = Decimal(cash)
    return AccountBalances(account_id="A1", cash=value, cash_available=value,
                           cash_withdrawable=value, buying_power=value, total_value=value,
                           market_value=Decimal(0))


def position(symbol: str, quantity: str, cost: str = "10", price: str = "11") -> Position:
    return Position(account_id="A1", symbol=symbol, quantity=Decimal(quantity),
                    quantity_available=Decimal(quantity), average_cost=Decimal(cost),
                    current_price=Decimal(price))


def order(order_id: str, status: OrderStatus, filled: str = "0",
          side: OrderSide = OrderSide.BUY) -> Order:
    return Order(order_id=order_id, account_id="A1", symbol="KO", side=side,
                 quantity=Decimal(5), order_type=OrderType.MARKET, status=status,
                 filled_quantity=Decimal(filled))


def snapshot(positions: list[Position], cash: str, orders: list[Order],
             at: datetime = T0) -> Snapshot:
    return Snapshot({p.symbol: p for p in positions}, balances(cash),
                    {o.order_id: o for o in orders}, at)


def test_price_moves_are_not_changes_but_quantities_are() -> None:
    state = LocalState("c")
    first = snapshot([position("KO", "5")], "1000", [order("1", OrderStatus.NEW)])
    assert len(state.diff(first)) == 3
    state.replace(first)
    repriced = snapshot([position("KO", "5", price="12")], "1000", [order("1", OrderStatus.NEW)])
    assert state.diff(repriced) == []
    state.replace(repriced)
    assert state.positions["KO"].current_price == Decimal(12)
    moved = snapshot([], "1100", [order("1", OrderStatus.FILLED, "5")])
    changes = {c.kind: c for c in state.diff(moved)}
    assert set(changes) == {SyncEventKind.POSITION, SyncEventKind.BALANCE, SyncEventKind.ORDER}
    flat = changes[SyncEventKind.POSITION]
    assert isinstance(flat.payload, Position)
    assert flat.payload.quantity == 0
    assert flat.drift is not None
    assert flat.drift.local == "5 @ 10"
    assert flat.drift.broker is None
    state.replace(moved)
    assert state.positions == {}
    assert state.open_orders == {}
    assert state.reflected["1"] == 5


def test_a_closed_order_never_seen_open_is_published_once() -> None:
    # Its "new" and its fill were both lost on the stream, and no read saw it resting.
    state = LocalState("c")
    state.replace(snapshot([], "1000", []))
    filled = snapshot([position("KO", "5")], "950", [order("9", OrderStatus.FILLED, "5")],
                      at=T0 + timedelta(seconds=1))
    [found] = [c for c in state.diff(filled) if c.kind is SyncEventKind.ORDER]
    assert isinstance(found.payload, Order)
    assert (found.payload.order_id, found.payload.status) == ("9", OrderStatus.FILLED)
    assert found.drift is not None
    assert found.drift.local is None
    state.replace(filled)
    again = snapshot([position("KO", "5")], "950", [order("9", OrderStatus.FILLED, "5")],
                     at=T0 + timedelta(seconds=2))
    assert state.diff(again) == []
    state.replace(again)
    # Gone from the broker's list, it is forgotten (and cannot come back).
    state.replace(snapshot([position("KO", "5")], "950", [], at=T0 + timedelta(seconds=3)))
    assert state.closed == {}


def test_a_close_seen_on_the_stream_is_not_published_again_by_a_read() -> None:
    state = LocalState("c")
    state.replace(snapshot([], "1000", [order("4", OrderStatus.NEW)]))
    state.apply_order(order("4", OrderStatus.CANCELED))
    later = snapshot([], "1000", [order("4", OrderStatus.CANCELED)],
                     at=T0 + timedelta(seconds=1))
    assert state.diff(later) == []


def test_a_read_sent_before_a_stream_change_does_not_undo_it() -> None:
    state = LocalState("c")
    state.replace(snapshot([], "1000", []))
    state.positions["KO"] = position("KO", "5")
    state.touch("pos:KO", T0 + timedelta(seconds=2))
    stale = snapshot([], "1000", [], at=T0 + timedelta(seconds=1))
    assert state.diff(stale) == []
    state.replace(stale)
    assert state.positions["KO"].quantity == 5
    later = snapshot([position("KO", "5")], "1000", [], at=T0 + timedelta(seconds=3))
    assert state.diff(later) == []


def test_position_after_fill_adds_and_reweights() -> None:
    filled = order("1", OrderStatus.PARTIALLY_FILLED, "2")
    opened = position_after_fill(None, filled, fill_quantity=Decimal(2),
                                 fill_price=Decimal(10), position_quantity=None, as_of=T0)
    assert (opened.quantity, opened.average_cost) == (Decimal(2), Decimal(10))
    grown = position_after_fill(opened, filled, fill_quantity=Decimal(2),
                                fill_price=Decimal(20), position_quantity=None, as_of=T0)
    assert (grown.quantity, grown.average_cost) == (Decimal(4), Decimal(15))
    sold = position_after_fill(grown, order("2", OrderStatus.FILLED, "1", OrderSide.SELL),
                               fill_quantity=Decimal(1), fill_price=Decimal(30),
                               position_quantity=None, as_of=T0)
    assert (sold.quantity, sold.average_cost) == (Decimal(3), Decimal(15))
    told = position_after_fill(grown, filled, fill_quantity=Decimal(1), fill_price=None,
                               position_quantity=Decimal(9), as_of=T0)
    assert told.quantity == 9


def test_poll_interval_follows_the_documented_limit() -> None:
    alpaca = ReadBudget(200, 60.0)
    assert alpaca.poll_interval() == 3 / (200 * 0.5 / 60)
    assert ReadBudget(120, 60.0, share=1.0).poll_interval() == 1.5
    assert ReadBudget(100_000, 1.0).poll_interval() == MIN_POLL_INTERVAL
