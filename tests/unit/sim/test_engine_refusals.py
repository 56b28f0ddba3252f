"""A refused order, modify or cancel leaves no trace: not in balances, positions, orders,
the ledger, the event stream, nor in the ids handed out afterwards."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import AccountStatus, AccountType, OrderSide, TimeInForce
from brokerlink.core.errors import (
    BrokerError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    SymbolNotFoundError,
)
from brokerlink.core.models import OrderModify
from brokerlink.sim.engine import SimEngine, utc
from tests.unit.sim.engine_helpers import funded, make_engine, order, pin, state_of

ACCT = "ACC1"


def setup() -> tuple[SimEngine, dict[str, str]]:
    """An account holding 10 AAPL, one resting buy, one resting sell, one filled order."""
    e = make_engine()
    pin(e, "AAPL", "100.00")
    funded(e, "20000")
    ids = {
        "filled": e.place_order(ACCT, order("AAPL", "buy", 10, client_order_id="c1")).order_id,
        "buy": e.place_order(ACCT, order("AAPL", "buy", 5, limit_price="90",
                                         time_in_force=TimeInForce.GTC)).order_id,
        "sell": e.place_order(ACCT, order("AAPL", "sell", 4, limit_price="120",
                                          time_in_force=TimeInForce.GTC)).order_id,
    }
    return e, ids


Refusal = Callable[[SimEngine, dict[str, str]], object]

REFUSALS: dict[str, tuple[Refusal, type[BrokerError]]] = {
    "unknown symbol": (lambda e, _: e.place_order(ACCT, order("ZZZZZ", "buy", 1)),
                       SymbolNotFoundError),
    "too little buying power": (
        lambda e, _: e.place_order(ACCT, order("AAPL", "buy", 1000)), InsufficientFundsError),
    "fractional where not allowed": (
        lambda e, _: e.place_order(ACCT, order("AMC", "buy", "0.5")), InvalidOrderError),
    "selling shares committed elsewhere": (
        lambda e, _: e.place_order(ACCT, order("AAPL", "sell", 7)), InvalidOrderError),
    "short while long": (
        lambda e, _: e.place_order(ACCT, order("AAPL", OrderSide.SELL_SHORT, 1)),
        InvalidOrderError),
    "duplicate client order id": (
        lambda e, _: e.place_order(ACCT, order("AAPL", "buy", 1, client_order_id="c1")),
        DuplicateOrderError),
    "opg in the session": (
        lambda e, _: e.place_order(ACCT, order("AAPL", "buy", 1,
                                               time_in_force=TimeInForce.OPG)),
        MarketClosedError),
    "cancel a filled order": (lambda e, ids: e.cancel_order(ACCT, ids["filled"]),
                              InvalidOrderError),
    "cancel an unknown order": (lambda e, _: e.cancel_order(ACCT, "x"), OrderNotFoundError),
    "native modify beyond buying power": (
        lambda e, ids: e.modify_order(ACCT, ids["buy"], OrderModify(quantity=Decimal(500))),
        InsufficientFundsError),
    "cancel-replace beyond buying power": (
        lambda e, ids: e.modify_order(ACCT, ids["buy"], OrderModify(quantity=Decimal(500)),
                                      style=ModifyStyle.CANCEL_REPLACE),
        InsufficientFundsError),
    "cancel-replace selling more than held": (
        lambda e, ids: e.modify_order(ACCT, ids["sell"], OrderModify(quantity=Decimal(11)),
                                      style=ModifyStyle.CANCEL_REPLACE),
        InvalidOrderError),
    "modify a filled order": (
        lambda e, ids: e.modify_order(ACCT, ids["filled"], OrderModify(quantity=Decimal(20))),
        InvalidOrderError),
    "modify to a price the type does not take": (
        lambda e, ids: e.modify_order(ACCT, ids["buy"], OrderModify(stop_price=Decimal(1))),
        InvalidOrderError),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusal_changes_nothing(name: str) -> None:
    refuse, error = REFUSALS[name]
    engine, ids = setup()
    twin, _ = setup()
    stream = engine.subscribe()
    before = state_of(engine, ACCT)
    with pytest.raises(error):
        refuse(engine, ids)
    assert state_of(engine, ACCT) == before
    assert stream.get_nowait() is None
    # The next order gets the same id as in an engine that never saw the refusal.
    follow = order("AAPL", "buy", 1, limit_price="50", client_order_id="next")
    assert engine.place_order(ACCT, follow).order_id == twin.place_order(ACCT, follow).order_id


def test_closed_market_refusal_changes_nothing() -> None:
    engine, ids = setup()
    engine.advance_to(utc(2026, 11, 24, 2, 0))
    before = state_of(engine, ACCT)
    with pytest.raises(MarketClosedError):
        engine.place_order(ACCT, order("AAPL", "buy", 1))
    with pytest.raises(MarketClosedError):
        engine.modify_order(ACCT, ids["buy"], OrderModify(limit_price=Decimal(91)))
    assert state_of(engine, ACCT) == before


def test_inactive_account_cannot_trade() -> None:
    engine, _ = setup()
    engine.set_account_status(ACCT, AccountStatus.RESTRICTED)
    before = state_of(engine, ACCT)
    with pytest.raises(PermissionDeniedError):
        engine.place_order(ACCT, order("AAPL", "buy", 1))
    assert state_of(engine, ACCT) == before


def test_cash_account_short_refusal_changes_nothing() -> None:
    engine = make_engine()
    acct = funded(engine, "1000", AccountType.CASH, account_id="CASH")
    before = state_of(engine, acct)
    with pytest.raises(PermissionDeniedError):
        engine.place_order(acct, order("F", OrderSide.SELL_SHORT, 1))
    assert state_of(engine, acct) == before
