"""Shared builders for the engine's behavioural tests (tests/unit/sim/test_engine_*.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from brokerlink.core.enums import AccountType, OrderSide, OrderStatus, OrderType
from brokerlink.core.models import OrderRequest
from brokerlink.sim.engine import SimEngine, utc

START = utc(2026, 11, 23, 15, 0)
"""Monday 23 November 2026, 10:00 New York (EST, UTC-5): the regular session is open."""
CLOSE = utc(2026, 11, 23, 21, 0)
"""That Monday's regular close, 16:00 New York."""
OPTION_EXPIRY = date(2026, 12, 18)


def make_engine(seed: int = 7, **kwargs: Any) -> SimEngine:
    kwargs.setdefault("start", START)
    return SimEngine(seed=seed, **kwargs)


def pin(engine: SimEngine, symbol: str, price: str) -> None:
    """Set and freeze a stock's last price so its quote is exact until set again."""
    engine.set_price(symbol, Decimal(price))
    engine.prices.freeze(symbol)


def funded(engine: SimEngine, cash: str = "100000",
           account_type: AccountType = AccountType.MARGIN, *, options_level: int = 2,
           account_id: str = "ACC1") -> str:
    return engine.open_account(account_id=account_id, cash=Decimal(cash),
                               account_type=account_type, options_level=options_level)


def order(symbol: str, side: OrderSide | str, quantity: str | int, **kwargs: Any) -> OrderRequest:
    """An ``OrderRequest``; prices given as strings become Decimals."""
    for name in ("limit_price", "stop_price", "trail_amount", "trail_percent"):
        if isinstance(kwargs.get(name), str | int):
            kwargs[name] = Decimal(kwargs[name])
    if "limit_price" in kwargs and "order_type" not in kwargs:
        kwargs["order_type"] = OrderType.LIMIT
    return OrderRequest(symbol=symbol, side=OrderSide(side), quantity=Decimal(quantity),
                        **kwargs)


@dataclass(frozen=True)
class EngineState:
    """Everything a user can observe about one account, for 'nothing changed' checks."""

    balances: tuple[Decimal, ...]
    positions: tuple[tuple[str, Decimal, Decimal, Decimal], ...]
    orders: tuple[tuple[str, OrderStatus, Decimal, Decimal, Decimal | None], ...]
    ledger: int
    reserved: Decimal


def state_of(engine: SimEngine, account_id: str) -> EngineState:
    b = engine.balances(account_id)
    account = engine.account_settings(account_id)
    return EngineState(
        balances=(b.cash, b.buying_power, b.total_value, b.market_value, b.cash_available),
        positions=tuple((p.symbol, p.quantity, p.quantity_available, p.average_cost)
                        for p in engine.positions(account_id)),
        orders=tuple((o.order_id, o.status, o.quantity, o.filled_quantity, o.limit_price)
                     for o in engine.orders(account_id)),
        ledger=len(account.ledger),
        reserved=account.reserved,
    )


def option_symbol(engine: SimEngine, underlying: str, strike: str, kind: str = "C",
                  expiry: date = OPTION_EXPIRY) -> str:
    """The OCC symbol of a listed contract (asserts it is listed)."""
    symbol = f"{underlying}{expiry:%y%m%d}{kind}{int(Decimal(strike) * 1000):08d}"
    assert engine.instrument(symbol).symbol == symbol
    return symbol
