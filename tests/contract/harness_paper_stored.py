"""The paper broker with a store, reloading its account before every call: the whole
contract then runs through snapshot, save and restore. The market is moved through
the broker (``set_price``, ``advance``) so each move is saved like any change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

from brokerlink.adapters.paper import MemoryPaperStateStore, PaperBroker
from tests.contract.harness import SESSION_START, Harness


class AlwaysReloading(MemoryPaperStateStore):
    """Reports a version the broker never holds, so every call reloads the account."""

    async def version(self) -> int | None:
        return -1


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
    store = AlwaysReloading()
    async with PaperBroker(seed=11, start=SESSION_START, cash=Decimal(100_000),
                           store=store) as broker:
        yield Harness("paper_stored", broker, StoredMarket(broker))
