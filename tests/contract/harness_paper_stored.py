"""The paper broker with a store, reloading its account before every call: the whole
contract then runs through snapshot, save and restore. The market is moved through
the broker (``set_price``, ``advance``) so each move is saved like any change.

Its faults are the store's: a corrupted stored state (what a damaged database row or
a newer version's format looks like) and a save that is committed but whose answer is
lost or unreadable (a connection cut after the commit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from brokerlink.adapters.paper import MemoryPaperStateStore, PaperBroker, StoredPaperState
from tests.contract.harness import SESSION_START, Harness

DEEP = 100_000


def garbled(malformed: str, state: str) -> str:
    """``state`` as a ``MALFORMED`` kind of damage would leave it."""
    damaged = {
        "empty_object": "{}",
        "empty": "",
        "null": "null",
        "list": "[]",
        "deep_json": "[" * DEEP + "]" * DEEP,
        "truncated": state[: len(state) // 2],
        "html": "<!doctype html><html><body>502 Bad Gateway</body></html>",
    }
    return damaged[malformed]


class FaultyStore(MemoryPaperStateStore):
    """Reports a version the broker never holds, so every call reloads the account; and
    is a ``FaultControl``: it counts its calls and can corrupt what it loads or lose the
    answer of a committed save."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.corrupt: str | None = None
        self.after_save: Exception | None = None

    async def version(self) -> int | None:
        self.calls += 1
        return -1

    async def load(self) -> StoredPaperState | None:
        self.calls += 1
        stored = await super().load()
        if stored is not None and self.corrupt is not None:
            return replace(stored, state=garbled(self.corrupt, stored.state))
        return stored

    async def save(self, state: str, *, expected_version: int) -> int:
        self.calls += 1
        version = await super().save(state, expected_version=expected_version)
        failure, self.after_save = self.after_save, None
        if failure is not None:
            raise failure  # committed: only the answer is lost
        return version

    # --- FaultControl ---

    async def requests(self) -> int:
        return self.calls

    async def garble_reads(self, malformed: str) -> None:
        self.corrupt = malformed

    async def garble_next_placement(self, malformed: str) -> None:
        self.after_save = ValueError(f"the store's answer is unreadable ({malformed})")

    async def drop_next_placement(self) -> None:
        self.after_save = ConnectionResetError("connection reset after the commit")

    async def heal(self) -> None:
        self.corrupt = None
        self.after_save = None


class StoredMarket:
    def __init__(self, broker: PaperBroker) -> None:
        self.broker = broker

    async def set_price(self, symbol: str, price: Decimal) -> None:
        await self.broker.set_price(symbol, price)

    async def advance(self, delta: timedelta) -> None:
        await self.broker.advance(delta)

    async def close_market(self) -> None:
        engine = self.broker.engine
        session = engine.calendar.session_for(engine.now())
        assert session is not None
        await self.broker.advance(session.post_close + timedelta(minutes=30) - engine.now())

    async def option_symbol(self, underlying: str) -> str:
        engine = self.broker.engine
        today = engine.now().date()
        chain = engine.universe.option_chain(underlying, today)
        later = [c for c in chain if c.expiration is not None and c.expiration > today]
        spot = (await self.broker.get_quote(underlying)).last
        assert spot is not None
        nearest = min(later, key=lambda c: (c.expiration, abs((c.strike or spot) - spot)))
        return nearest.symbol


@asynccontextmanager
async def open_harness() -> AsyncIterator[Harness]:
    store = FaultyStore()

    def another() -> PaperBroker:
        return PaperBroker(seed=11, start=SESSION_START, cash=Decimal(100_000), store=store)

    async with another() as broker:
        yield Harness("paper_stored", broker, StoredMarket(broker), faults=store,
                      another=another)
