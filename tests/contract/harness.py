"""What the contract suite needs from an implementation besides ``BrokerInterface``:
a way to move the market (set a price, advance time, close the session), which the
paper broker does on its engine and an adapter does through its emulator's admin API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from brokerlink.core.interface import BrokerInterface
from brokerlink.sim.engine import utc

UNKNOWN_SYMBOL = "ZZZQX"

SESSION_START = utc(2026, 11, 23, 15, 0)
"""Monday 23 November 2026, 10:00 in New York: a regular session with hours to run.
Every harness starts its simulation here."""


class MarketControl(Protocol):
    async def set_price(self, symbol: str, price: Decimal) -> None: ...

    async def advance(self, delta: timedelta) -> None: ...

    async def close_market(self) -> None:
        """Move the clock to a time when no session (regular or extended) is open."""

    async def option_symbol(self, underlying: str) -> str:
        """A listed, unexpired OCC option symbol on ``underlying``."""


@dataclass
class Harness:
    """One implementation under contract. Each ``tests/contract/harness_<name>.py``
    module provides ``open_harness()``, an async context manager yielding one of these
    around a fresh, connected broker with a funded account."""

    name: str
    broker: BrokerInterface
    market: MarketControl
    rejects_when_closed: bool = True
    """True where the broker refuses orders while closed (paper); False where it
    queues them for the open (most real brokers)."""
