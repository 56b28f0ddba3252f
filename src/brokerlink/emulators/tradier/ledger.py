"""Closed-position lots and acquisition dates, replayed from the engine's fill ledger.

Tradier reports ``date_acquired`` on positions, ``close_pl`` on balances and closed lots
on ``/gainloss``; the engine keeps only average cost, so the emulator replays fills
(average-cost method) to produce them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from brokerlink.core.enums import TransactionType
from brokerlink.core.models import Transaction
from brokerlink.core.symbols import is_occ

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ClosedLot:
    symbol: str
    quantity: Decimal
    cost: Decimal
    proceeds: Decimal
    opened: datetime
    closed: datetime


@dataclass(slots=True)
class _Open:
    quantity: Decimal
    cost: Decimal
    opened: datetime


@dataclass(frozen=True, slots=True)
class Replay:
    closed: list[ClosedLot]
    acquired: dict[str, datetime]


def replay(transactions: Iterable[Transaction]) -> Replay:
    """Walk fills in time order, average cost per symbol; see the module docstring."""
    book: dict[str, _Open] = {}
    closed: list[ClosedLot] = []
    fills = sorted(
        ((t.timestamp, t.symbol, t.quantity if t.side.is_buy else -t.quantity, t.price)
         for t in transactions if t.type is TransactionType.FILL and t.symbol
         and t.quantity and t.price is not None and t.side is not None),
        key=lambda fill: fill[0])
    for at, symbol, signed, price in fills:
        multiplier = Decimal(100) if is_occ(symbol) else Decimal(1)
        held = book.get(symbol)
        if held is None or held.quantity == 0 or (held.quantity > 0) == (signed > 0):
            if held is None or held.quantity == 0:
                held = _Open(ZERO, ZERO, at)
                book[symbol] = held
            held.quantity += signed
            held.cost += signed * price * multiplier
            continue
        count = min(abs(held.quantity), abs(signed))
        unit = held.cost / held.quantity
        traded = price * multiplier * count
        if held.quantity > 0:
            closed.append(ClosedLot(symbol, count, unit * count, traded, held.opened, at))
        else:
            closed.append(ClosedLot(symbol, count, traded, unit * count, held.opened, at))
        direction = Decimal(1) if held.quantity > 0 else Decimal(-1)
        held.quantity -= direction * count
        held.cost -= unit * direction * count
        rest = signed + direction * count
        if rest != 0:
            book[symbol] = _Open(rest, rest * price * multiplier, at)
    acquired = {symbol: lot.opened for symbol, lot in book.items() if lot.quantity != 0}
    return Replay(closed, acquired)
