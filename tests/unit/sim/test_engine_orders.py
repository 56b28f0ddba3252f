"""Order types on the engine: market, limit, stop, stop-limit, trailing stop, partial fills.

AAPL is pinned so quotes are exact: a liquid name (3,000 shares at the touch) quotes a
one-tick spread, bid == last and ask == last + 0.01. Default fees: no stock commission.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from brokerlink.core.enums import OrderSide, OrderStatus, OrderType, TransactionType
from brokerlink.core.errors import InvalidOrderError
from brokerlink.core.lifecycle import IllegalTransitionError
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.orders import WorkingOrder
from tests.unit.sim.engine_helpers import START, funded, make_engine, order, pin, state_of


@pytest.fixture
def engine() -> SimEngine:
    e = make_engine()
    pin(e, "AAPL", "100.00")
    return e


@pytest.fixture
def acct(engine: SimEngine) -> str:
    return funded(engine)


def test_market_buy_fills_at_the_ask_and_pays_exactly(engine: SimEngine, acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10))
    assert placed.status is OrderStatus.FILLED
    assert placed.average_fill_price == Decimal("100.01")
    assert placed.filled_at == START
    # 100000 - 10 x 100.01
    assert engine.balances(acct).cash == Decimal("98999.90")
    [position] = engine.positions(acct)
    assert (position.quantity, position.average_cost) == (Decimal(10), Decimal("100.01"))


def test_market_sell_fills_at_the_bid(engine: SimEngine, acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    sold = engine.place_order(acct, order("AAPL", "sell", 10))
    assert sold.average_fill_price == Decimal("100.00")
    # 98999.90 + 1000.00: the spread cost 0.10
    assert engine.balances(acct).cash == Decimal("99999.90")
    assert engine.positions(acct) == []


def test_limit_buy_rests_until_the_ask_reaches_the_limit(engine: SimEngine, acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="99.50"))
    assert placed.status is OrderStatus.NEW
    engine.set_price("AAPL", Decimal("99.50"))  # ask 99.51: still above the limit
    assert engine.get_order(acct, placed.order_id).status is OrderStatus.NEW
    engine.set_price("AAPL", Decimal("99.49"))  # ask 99.50
    filled = engine.get_order(acct, placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("99.50")
    assert engine.balances(acct).cash == Decimal("99005.00")


def test_marketable_limit_gets_price_improvement(engine: SimEngine, acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="105"))
    assert placed.status is OrderStatus.FILLED
    assert placed.average_fill_price == Decimal("100.01")


def test_limit_sell_fills_at_the_bid_once_it_reaches_the_limit(engine: SimEngine,
                                                                acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    placed = engine.place_order(acct, order("AAPL", "sell", 10, limit_price="101"))
    assert placed.status is OrderStatus.NEW
    engine.set_price("AAPL", Decimal("101.30"))
    filled = engine.get_order(acct, placed.order_id)
    assert filled.average_fill_price == Decimal("101.30")
    # 98999.90 + 1013.00
    assert engine.balances(acct).cash == Decimal("100012.90")


def test_buy_stop_triggers_on_the_last_price_and_fills_as_market(engine: SimEngine,
                                                                  acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, order_type=OrderType.STOP,
                                            stop_price="101"))
    engine.set_price("AAPL", Decimal("100.99"))
    assert engine.get_order(acct, placed.order_id).status is OrderStatus.NEW
    engine.set_price("AAPL", Decimal("101.00"))
    filled = engine.get_order(acct, placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("101.01")


def test_sell_stop_loss_fills_at_the_bid_after_the_drop(engine: SimEngine, acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    stop = engine.place_order(acct, order("AAPL", "sell", 10, order_type=OrderType.STOP,
                                          stop_price="95"))
    engine.set_price("AAPL", Decimal("95.01"))
    assert engine.get_order(acct, stop.order_id).status is OrderStatus.NEW
    engine.set_price("AAPL", Decimal("94.90"))
    filled = engine.get_order(acct, stop.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("94.90")
    # realised: (94.90 - 100.01) x 10
    holding = engine.account_settings(acct).holdings["AAPL"]
    assert holding.realized_pnl == Decimal("-51.10")


def test_stop_limit_becomes_a_resting_limit_once_triggered(engine: SimEngine,
                                                           acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    placed = engine.place_order(acct, order("AAPL", "sell", 10, order_type=OrderType.STOP_LIMIT,
                                            stop_price="95", limit_price="94.50"))
    engine.set_price("AAPL", Decimal("94.00"))  # triggers, but the bid is under the limit
    assert engine.get_order(acct, placed.order_id).status is OrderStatus.NEW
    engine.set_price("AAPL", Decimal("94.60"))  # back above the stop: still triggered
    filled = engine.get_order(acct, placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("94.60")


def test_trailing_stop_amount_ratchets_up_and_never_loosens(engine: SimEngine,
                                                            acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    trail = engine.place_order(acct, order("AAPL", "sell", 10,
                                           order_type=OrderType.TRAILING_STOP,
                                           trail_amount="2"))
    assert trail.stop_price == Decimal("98.00")
    engine.set_price("AAPL", Decimal("105.00"))
    assert engine.get_order(acct, trail.order_id).stop_price == Decimal("103.00")
    engine.set_price("AAPL", Decimal("103.50"))  # falls, but the stop stays at 103
    working = engine.get_order(acct, trail.order_id)
    assert (working.status, working.stop_price) == (OrderStatus.NEW, Decimal("103.00"))
    engine.set_price("AAPL", Decimal("103.00"))
    filled = engine.get_order(acct, trail.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("103.00")


def test_trailing_stop_percent_on_the_buy_side(engine: SimEngine, acct: str) -> None:
    trail = engine.place_order(acct, order("AAPL", "buy", 10, order_type=OrderType.TRAILING_STOP,
                                           trail_percent="10"))
    assert trail.stop_price == Decimal("110.00")
    engine.set_price("AAPL", Decimal("90.00"))  # reference 90: stop 99
    assert engine.get_order(acct, trail.order_id).stop_price == Decimal("99.00")
    engine.set_price("AAPL", Decimal("99.00"))
    filled = engine.get_order(acct, trail.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("99.01")


def test_order_larger_than_the_touch_fills_in_parts(engine: SimEngine, acct: str) -> None:
    pin(engine, "AAPL", "10.00")
    placed = engine.place_order(acct, order("AAPL", "buy", 5000))
    assert placed.status is OrderStatus.PARTIALLY_FILLED
    assert placed.filled_quantity == Decimal(3000)
    engine.advance(timedelta(minutes=1))
    filled = engine.get_order(acct, placed.order_id)
    assert (filled.status, filled.filled_quantity) == (OrderStatus.FILLED, Decimal(5000))
    fills = [t for t in engine.transactions(acct, START, START + timedelta(hours=1))
             if t.type is TransactionType.FILL]
    assert [t.quantity for t in fills] == [Decimal(3000), Decimal(2000)]
    assert [t.timestamp for t in fills] == [START, START + timedelta(minutes=1)]
    assert engine.balances(acct).cash == Decimal(100000) - Decimal("50050.00")


def test_touch_liquidity_is_shared_by_orders_at_the_same_instant(engine: SimEngine,
                                                                 acct: str) -> None:
    pin(engine, "AAPL", "10.00")
    first = engine.place_order(acct, order("AAPL", "buy", 2000))
    second = engine.place_order(acct, order("AAPL", "buy", 2000))
    assert first.filled_quantity == Decimal(2000)
    # 3,000 shares were offered at this instant and 2,000 are gone.
    assert second.filled_quantity == Decimal(1000)
    engine.set_price("AAPL", Decimal("10.00"))  # the same book again: nothing new offered
    assert engine.get_order(acct, second.order_id).filled_quantity == Decimal(1000)
    engine.advance(timedelta(minutes=1))
    assert engine.get_order(acct, second.order_id).status is OrderStatus.FILLED


def test_fractional_quantity_only_where_the_instrument_allows(engine: SimEngine,
                                                              acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", "0.5"))
    assert placed.filled_quantity == Decimal("0.5")
    before = state_of(engine, acct)
    with pytest.raises(InvalidOrderError, match="fractional"):
        engine.place_order(acct, order("AMC", "buy", "1.5"))
    assert state_of(engine, acct) == before


def test_selling_more_than_held_is_refused_with_a_hint(engine: SimEngine, acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    with pytest.raises(InvalidOrderError, match="sell_short"):
        engine.place_order(acct, order("AAPL", OrderSide.SELL, 11))
    engine.place_order(acct, order("AAPL", "sell", 6, limit_price="200"))
    with pytest.raises(InvalidOrderError, match="only 4 held long"):
        engine.place_order(acct, order("AAPL", "sell", 5))
    [position] = engine.positions(acct)
    assert position.quantity_available == Decimal(4)


def test_an_illegal_status_change_is_impossible(engine: SimEngine) -> None:
    request = order("AAPL", "buy", 1)
    working = WorkingOrder(order_id="o1", account_id="A", request=request,
                           instrument=engine.instrument("AAPL"), submitted_at=START,
                           quantity=request.quantity, limit_price=None, stop_price=None,
                           trail_amount=None, trail_percent=None,
                           time_in_force=request.time_in_force)
    working.move_to(OrderStatus.NEW, START)
    working.move_to(OrderStatus.FILLED, START)
    for later in (OrderStatus.CANCELED, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
        with pytest.raises(IllegalTransitionError):
            working.move_to(later, START)
    assert working.status is OrderStatus.FILLED
    assert working.history == [OrderStatus.NEW, OrderStatus.FILLED]
