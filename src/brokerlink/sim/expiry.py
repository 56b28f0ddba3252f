"""When a listed option stops trading, and how a holding in it settles.

An option trades until the close of the last session on or before its expiration date:
the universe lists expirations on Fridays even when the exchange is shut (Christmas
2026 is a Friday), and such contracts expire at the previous session's close, as the
OCC moves them. At that close a holding settles in cash at intrinsic value (a
documented simplification of exercise and assignment).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from brokerlink.core.enums import OptionType, TransactionType
from brokerlink.sim.accounts import ZERO, Holding, LedgerEntry, SimAccount
from brokerlink.sim.calendar import MarketCalendar
from brokerlink.sim.rules import option_terms
from brokerlink.sim.universe import Instrument

_LOOKBACK = timedelta(days=10)
"""Longer than any run of exchange holidays and weekends."""


def last_trading_close(calendar: MarketCalendar, instrument: Instrument) -> datetime | None:
    """When ``instrument`` stops trading: None for anything but an option."""
    if instrument.expiration is None:
        return None
    try:
        sessions = calendar.sessions_between(instrument.expiration - _LOOKBACK,
                                             instrument.expiration)
    except ValueError:  # beyond the calendar's range: far from expiring
        return None
    return sessions[-1].close if sessions else None


def has_expired(calendar: MarketCalendar, instrument: Instrument, at: datetime) -> bool:
    """Whether ``instrument`` (an option) can no longer trade at ``at``."""
    close = last_trading_close(calendar, instrument)
    return close is not None and at >= close


def intrinsic_value(instrument: Instrument, spot: Decimal) -> Decimal:
    _, strike = option_terms(instrument)
    if instrument.option_type is OptionType.CALL:
        return max(ZERO, spot - strike)
    return max(ZERO, strike - spot)


def settle(account: SimAccount, holding: Holding, spot: Decimal, at: datetime,
           entry_id: str) -> None:
    """Close ``holding`` at intrinsic value in cash, with a ledger entry."""
    instrument = holding.instrument
    intrinsic = intrinsic_value(instrument, spot)
    quantity = holding.quantity
    holding.apply(-quantity, intrinsic)
    holding.reserved_to_close = ZERO
    amount = quantity * intrinsic * Decimal(instrument.multiplier)
    account.cash += amount
    account.ledger.append(LedgerEntry(
        entry_id, TransactionType.OTHER, at, amount, symbol=instrument.symbol,
        quantity=-quantity, price=intrinsic,
        description="option expiration, settled in cash at intrinsic value"))
