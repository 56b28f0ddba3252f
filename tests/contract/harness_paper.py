"""The paper broker's contract harness: market control straight on the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

from brokerlink.adapters.paper import PaperBroker
from brokerlink.sim.engine import SimEngine
from tests.contract.harness import SESSION_START, Harness


class EngineMarket:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self.engine.set_price(symbol, price)

    async def advance(self, delta: timedelta) -> None:
        self.engine.advance(delta)

    async def close_market(self) -> None:
        session = self.engine.calendar.session_for(self.engine.now())
        assert session is not None
        self.engine.advance_to(session.post_close + timedelta(minutes=30))

    async def option_symbol(self, underlying: str) -> str:
        today = self.engine.now().date()
        chain = self.engine.universe.option_chain(underlying, today)
        later = [c for c in chain if c.expiration is not None and c.expiration > today]
        spot = self.engine.quote(underlying).last
        assert spot is not None
        nearest = min(later, key=lambda c: (c.expiration, abs((c.strike or spot) - spot)))
        return nearest.symbol


@asynccontextmanager
async def open_harness() -> AsyncIterator[Harness]:
    engine = SimEngine(seed=11, start=SESSION_START)
    async with PaperBroker(engine, cash=Decimal(100_000)) as broker:
        account_id = broker.account_id

        def another() -> PaperBroker:
            return PaperBroker(engine, account_id=account_id)

        # No faults: an account in memory has no wire and no store to garble or lose.
        yield Harness("paper", broker, EngineMarket(engine), another=another)
