"""The same seed and the same calls give the same market, ids, fills and ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from brokerlink.core.enums import OrderType, TimeInForce
from brokerlink.sim.engine import SimEngine
from tests.unit.sim.engine_helpers import START, make_engine, order

Record = tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[Decimal]]


def session(seed: int) -> Record:
    """A morning of trading on walking (unpinned) prices, recorded."""
    e: SimEngine = make_engine(seed=seed)
    acct = e.open_account(cash=Decimal(1_000_000))
    e.place_order(acct, order("AAPL", "buy", 100, client_order_id="a"))
    e.place_order(acct, order("AAPL", "sell", 100, order_type=OrderType.TRAILING_STOP,
                              trail_percent="0.5", time_in_force=TimeInForce.GTC,
                              client_order_id="b"))
    e.place_order(acct, order("MSFT", "buy", 50, limit_price="400",
                              time_in_force=TimeInForce.GTC, client_order_id="c"))
    e.place_order(acct, order("F", "sell_short", 5000, client_order_id="d"))
    prices = []
    for _ in range(12):
        e.advance(timedelta(minutes=30))
        prices.append(e.quote("AAPL").last or Decimal(0))
    orders: list[tuple[object, ...]] = [
        (o.order_id, o.status, o.filled_quantity, o.average_fill_price, o.updated_at)
        for o in e.orders(acct)]
    ledger: list[tuple[object, ...]] = [
        (t.transaction_id, t.amount, t.quantity, t.price, t.timestamp)
        for t in e.transactions(acct, START, e.now())]
    return orders, ledger, prices


def test_same_seed_same_everything() -> None:
    assert session(5) == session(5)


def test_another_seed_another_market() -> None:
    orders_a, _, prices_a = session(5)
    orders_b, _, prices_b = session(6)
    assert prices_a != prices_b
    assert [o[0] for o in orders_a] != [o[0] for o in orders_b]


def test_account_and_order_ids_are_seeded() -> None:
    first, second = make_engine(seed=9), make_engine(seed=9)
    assert first.open_account() == second.open_account()
