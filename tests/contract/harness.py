"""What the contract suite needs from an implementation besides ``BrokerInterface``:
a way to move the market (set a price, advance time, close the session), which the
paper broker does on its engine and an adapter does through its emulator's admin API;
a way to break what the broker answers (``FaultControl``: the emulator's fault API, or
for a stored paper account its store); and a way to build a second, unconnected broker
on the same account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol

import httpx

from brokerlink.core.interface import BrokerInterface
from brokerlink.sim.engine import utc

UNKNOWN_SYMBOL = "ZZZQX"

SESSION_START = utc(2026, 11, 23, 15, 0)
"""Monday 23 November 2026, 10:00 in New York: a regular session with hours to run.
Every harness starts its simulation here."""

MALFORMED = ("empty_object", "empty", "null", "list", "deep_json", "truncated", "html")
"""The unreadable answers every ``FaultControl`` can produce (the emulators'
``MalformedBody`` names): ``{}``, no bytes, ``null``, ``[]``, JSON nested thousands
deep, the real answer cut in half, an HTML page."""


class MarketControl(Protocol):
    async def set_price(self, symbol: str, price: Decimal) -> None: ...

    async def advance(self, delta: timedelta) -> None: ...

    async def close_market(self) -> None:
        """Move the clock to a time when no session (regular or extended) is open."""

    async def option_symbol(self, underlying: str) -> str:
        """A listed, unexpired OCC option symbol on ``underlying``."""


class FaultControl(Protocol):
    """Breaks what the broker answers, the way a faulty broker (or store) would."""

    async def requests(self) -> int:
        """How many requests reached the broker (or its store) so far: a check that a
        refusal happened before any I/O."""

    async def garble_reads(self, malformed: str) -> None:
        """From now until ``heal``, every balances read answers ``malformed`` (one of
        ``MALFORMED``; an object is what belongs there). Retrying cannot get past it."""

    async def garble_next_placement(self, malformed: str) -> None:
        """The next order placement takes effect, and its answer is ``malformed``."""

    async def drop_next_placement(self) -> None:
        """The next order placement takes effect, and its answer never arrives."""

    async def heal(self) -> None:
        """Remove every fault installed here."""


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
    faults: FaultControl | None = None
    """``None`` where nothing can be garbled or lost (a paper account in memory)."""
    another: Callable[[], BrokerInterface] | None = None
    """A new, not yet connected broker on the same account."""


class EmulatorFaults:
    """``FaultControl`` through an emulator's ``/_emulator/faults`` admin API.

    ``read_path`` and ``write_path`` are ``fnmatch`` patterns of the broker's balances
    read and order placement. A zero-latency rule matching every request counts them
    (``requests``); it changes nothing else.
    """

    def __init__(self, admin: httpx.AsyncClient, *, read_path: str, write_path: str) -> None:
        self.admin = admin
        self.read_path = read_path
        self.write_path = write_path
        self._counter: str | None = None
        self._installed: list[str] = []

    async def _add(self, **rule: Any) -> str:
        response = await self.admin.post("/_emulator/faults", json=rule)
        response.raise_for_status()
        rule_id: str = response.json()["id"]
        return rule_id

    async def start_counting(self) -> None:
        self._counter = await self._add(kind="latency", latency=0)

    async def requests(self) -> int:
        assert self._counter is not None, "start_counting() first"
        response = await self.admin.get("/_emulator/faults")
        response.raise_for_status()
        for rule in response.json()["faults"]:
            if rule["id"] == self._counter:
                return int(rule["fired"])
        raise AssertionError("the request counter rule is gone")

    async def garble_reads(self, malformed: str) -> None:
        self._installed.append(await self._add(
            kind="malformed_ack", method="GET", path=self.read_path, malformed=malformed))

    async def garble_next_placement(self, malformed: str) -> None:
        self._installed.append(await self._add(
            kind="malformed_ack", method="POST", path=self.write_path, malformed=malformed,
            count=1))

    async def drop_next_placement(self) -> None:
        self._installed.append(await self._add(
            kind="drop_after", method="POST", path=self.write_path, count=1))

    async def heal(self) -> None:
        while self._installed:
            rule_id = self._installed.pop()
            response = await self.admin.delete(f"/_emulator/faults/{rule_id}")
            response.raise_for_status()
