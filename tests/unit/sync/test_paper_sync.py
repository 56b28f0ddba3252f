"""The paper broker's engine events drive the sync like a broker stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from brokerlink.adapters.paper.broker import PaperBroker
from brokerlink.adapters.paper.stream import PaperOrderStream
from brokerlink.core.enums import OrderSide, OrderType, TimeInForce
from brokerlink.core.models import OrderRequest, Position
from brokerlink.manager.latency import SyncSource
from brokerlink.manager.sync import SyncEngine, SyncPolicy
from brokerlink.manager.sync_events import SyncEventKind
from brokerlink.manager.sync_sources import open_stream

WAIT = 5.0


@pytest.fixture
async def paper() -> AsyncIterator[PaperBroker]:
    async with PaperBroker(market="always_open", seed=3, cash=Decimal(50000)) as broker:
        yield broker


async def test_paper_engine_events_are_the_stream(paper: PaperBroker) -> None:
    assert isinstance(open_stream(paper), PaperOrderStream)
    sync = SyncEngine({"paper": paper}, policy=SyncPolicy(reconcile_interval=None))
    async with sync.subscribe() as events, sync:
        await events.wait_for(lambda e: e.kind is SyncEventKind.STREAM_UP, WAIT)
        await sync.settled("paper", WAIT)
        paper.engine.set_price("AAPL", Decimal(200))
        await paper.place_order(OrderRequest(
            symbol="AAPL", side=OrderSide.BUY, quantity=3, order_type=OrderType.LIMIT,
            limit_price=Decimal(190), time_in_force=TimeInForce.GTC))
        sync.mark_fill("paper", "AAPL")
        paper.engine.set_price("AAPL", Decimal(189))
        event = await events.wait_for(
            lambda e: e.kind is SyncEventKind.POSITION and e.source is SyncSource.STREAM, WAIT)
    assert isinstance(event.payload, Position)
    assert (event.payload.symbol, event.payload.quantity) == ("AAPL", Decimal(3))
    assert event.latency is not None
    assert sync.latency.stats(source=SyncSource.STREAM).count == 1


async def test_sync_once_reads_without_starting_loops(paper: PaperBroker) -> None:
    await paper.place_order(OrderRequest(symbol="KO", side=OrderSide.BUY, quantity=2))
    sync = SyncEngine({"paper": paper})
    async with sync.subscribe() as events:
        states = await sync.sync_once()
        first = await events.get()
    assert states["paper"].positions["KO"].quantity == 2
    assert states["paper"].balances is not None
    assert first.source is SyncSource.POLL
