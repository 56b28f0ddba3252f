"""Modify (native and cancel-replace) and cancel on the engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import OrderStatus, TimeInForce
from brokerlink.core.errors import InsufficientFundsError, InvalidOrderError, OrderNotFoundError
from brokerlink.core.models import OrderModify
from brokerlink.sim.engine import SimEngine
from tests.unit.sim.engine_helpers import CLOSE, funded, make_engine, order, pin, state_of

NATIVE, REPLACE = ModifyStyle.NATIVE, ModifyStyle.CANCEL_REPLACE


@pytest.fixture
def engine() -> SimEngine:
    e = make_engine()
    pin(e, "AAPL", "100.00")
    return e


@pytest.fixture
def acct(engine: SimEngine) -> str:
    return funded(engine)


def test_native_modify_keeps_the_id_and_can_make_it_marketable(engine: SimEngine,
                                                               acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="90"))
    changed = engine.modify_order(acct, placed.order_id, OrderModify(limit_price=Decimal(95)))
    assert (changed.order_id, changed.limit_price, changed.status) == (
        placed.order_id, Decimal(95), OrderStatus.NEW)
    assert engine.buying_power(acct) == Decimal(200000 - 950)
    filled = engine.modify_order(acct, placed.order_id, OrderModify(limit_price=Decimal(101)))
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("100.01")
    assert engine.account_settings(acct).reserved == 0


def test_cancel_replace_links_old_and_new(engine: SimEngine, acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="90"))
    new = engine.modify_order(acct, placed.order_id, OrderModify(quantity=Decimal(20)),
                              style=REPLACE)
    old = engine.get_order(acct, placed.order_id)
    assert new.order_id != placed.order_id
    assert (old.status, old.replaced_by) == (OrderStatus.REPLACED, new.order_id)
    assert (new.status, new.replaces, new.quantity) == (OrderStatus.NEW, placed.order_id,
                                                        Decimal(20))
    assert new.client_order_id != placed.client_order_id
    assert engine.buying_power(acct) == Decimal(200000 - 1800)


def test_native_modify_of_a_partly_filled_sell(engine: SimEngine, acct: str) -> None:
    pin(engine, "AAPL", "10.00")
    engine.place_order(acct, order("AAPL", "buy", 5000))
    engine.advance_to(engine.now().replace(minute=1))
    assert engine.positions(acct)[0].quantity == Decimal(5000)
    sell = engine.place_order(acct, order("AAPL", "sell", 5000, limit_price="10.50"))
    engine.set_price("AAPL", Decimal("10.50"))  # 3,000 at the touch
    assert engine.get_order(acct, sell.order_id).filled_quantity == Decimal(3000)
    changed = engine.modify_order(acct, sell.order_id,
                                  OrderModify(limit_price=Decimal("11.00")))
    assert (changed.quantity, changed.filled_quantity, changed.status) == (
        Decimal(5000), Decimal(3000), OrderStatus.PARTIALLY_FILLED)
    [position] = engine.positions(acct)
    assert position.quantity_available == Decimal(0)
    # and the quantity can grow only by what is held
    with pytest.raises(InvalidOrderError, match="only 2000"):
        engine.modify_order(acct, sell.order_id, OrderModify(quantity=Decimal(5001)))


def test_native_modify_of_a_partly_filled_buy_reserves_only_the_rest(engine: SimEngine,
                                                                     acct: str) -> None:
    pin(engine, "AAPL", "10.00")
    buy = engine.place_order(acct, order("AAPL", "buy", 5000, limit_price="10.01"))
    assert buy.filled_quantity == Decimal(3000)
    engine.set_price("AAPL", Decimal("10.50"))
    engine.modify_order(acct, buy.order_id, OrderModify(limit_price=Decimal("10.02")))
    # 2,000 left at 10.02 are held, not 5,000
    assert engine.account_settings(acct).reserved == Decimal("20040.00")
    engine.cancel_order(acct, buy.order_id)
    assert engine.account_settings(acct).reserved == 0


def test_cancel_replace_of_a_partly_filled_order_carries_the_rest(engine: SimEngine,
                                                                  acct: str) -> None:
    pin(engine, "AAPL", "10.00")
    buy = engine.place_order(acct, order("AAPL", "buy", 5000, limit_price="10.01"))
    engine.set_price("AAPL", Decimal("10.50"))
    new = engine.modify_order(acct, buy.order_id, OrderModify(limit_price=Decimal("10.02")),
                              style=REPLACE)
    assert new.quantity == Decimal(2000)
    assert engine.get_order(acct, buy.order_id).filled_quantity == Decimal(3000)
    assert engine.account_settings(acct).reserved == Decimal("20040.00")


def test_native_modify_to_an_auction_moves_the_order_to_the_auction(engine: SimEngine,
                                                                    acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="90"))
    engine.modify_order(acct, placed.order_id,
                        OrderModify(time_in_force=TimeInForce.CLS, limit_price=Decimal(101)))
    assert engine.get_order(acct, placed.order_id).status is OrderStatus.NEW
    engine.advance_to(CLOSE)
    filled = engine.get_order(acct, placed.order_id)
    assert (filled.status, filled.average_fill_price) == (OrderStatus.FILLED, Decimal(100))


def test_refused_modify_leaves_the_order_standing(engine: SimEngine, acct: str) -> None:
    placed = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="90"))
    before = state_of(engine, acct)
    with pytest.raises(InsufficientFundsError):
        engine.modify_order(acct, placed.order_id, OrderModify(quantity=Decimal(3000)))
    with pytest.raises(InvalidOrderError):
        engine.modify_order(acct, placed.order_id, OrderModify(stop_price=Decimal(80)))
    for style in (NATIVE, REPLACE):
        with pytest.raises(InsufficientFundsError):
            engine.modify_order(acct, placed.order_id,
                                OrderModify(limit_price=Decimal(100000)), style=style)
    assert state_of(engine, acct) == before


def test_modify_refuses_a_quantity_not_above_the_filled_part(engine: SimEngine,
                                                             acct: str) -> None:
    pin(engine, "AAPL", "10.00")
    buy = engine.place_order(acct, order("AAPL", "buy", 5000, limit_price="10.01"))
    with pytest.raises(InvalidOrderError, match="already filled"):
        engine.modify_order(acct, buy.order_id, OrderModify(quantity=Decimal(3000)))


def test_closed_orders_cannot_be_modified_or_canceled(engine: SimEngine, acct: str) -> None:
    filled = engine.place_order(acct, order("AAPL", "buy", 1))
    with pytest.raises(InvalidOrderError, match="filled"):
        engine.modify_order(acct, filled.order_id, OrderModify(quantity=Decimal(2)))
    with pytest.raises(InvalidOrderError, match="filled"):
        engine.cancel_order(acct, filled.order_id)


def test_cancel_frees_what_the_order_held(engine: SimEngine, acct: str) -> None:
    engine.place_order(acct, order("AAPL", "buy", 10))
    sell = engine.place_order(acct, order("AAPL", "sell", 10, limit_price="120"))
    assert engine.positions(acct)[0].quantity_available == 0
    canceled = engine.cancel_order(acct, sell.order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.canceled_at == engine.now()
    assert engine.positions(acct)[0].quantity_available == Decimal(10)
    with pytest.raises(InvalidOrderError, match="canceled"):
        engine.cancel_order(acct, sell.order_id)


def test_unknown_and_foreign_order_ids(engine: SimEngine, acct: str) -> None:
    other = funded(engine, account_id="ACC2")
    placed = engine.place_order(acct, order("AAPL", "buy", 1, limit_price="90"))
    for account, order_id in ((acct, "nope"), (other, placed.order_id)):
        with pytest.raises(OrderNotFoundError):
            engine.cancel_order(account, order_id)
        with pytest.raises(OrderNotFoundError):
            engine.modify_order(account, order_id, OrderModify(quantity=Decimal(2)))
        with pytest.raises(OrderNotFoundError):
            engine.get_order(account, order_id)
    with pytest.raises(OrderNotFoundError):
        engine.get_order_by_client_id(acct, "never-used")
    assert engine.get_order_by_client_id(acct, placed.client_order_id or "").order_id \
        == placed.order_id
    assert engine.get_order(acct, placed.order_id).status is OrderStatus.NEW
