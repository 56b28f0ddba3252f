"""Sync by polling (Tradier with its stream switched off), within Tradier's documented
rate limit: fill-to-position latency p99 under five seconds."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from brokerlink.adapters.tradier import TradierBroker
from brokerlink.core.enums import OrderSide
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.models import OrderRequest, Position
from brokerlink.manager.latency import SyncSource
from brokerlink.manager.sync import SyncEngine, SyncPolicy
from brokerlink.manager.sync_events import SyncEvent, SyncEventKind
from brokerlink.manager.sync_sources import READS_PER_FULL_SYNC
from brokerlink.manager.sync_state import SyncMode
from tests.integration.sync.conftest import Market

FILLS = 20
POLL_P99_TARGET = 5.0
PACE = 0.3
"""Seconds between caused fills (load pacing, not synchronisation): spreads the fills
over the poll cycle, so the samples cover every phase of it."""


async def test_fills_reach_local_positions_by_polling(tradier: Market) -> None:
    conn = tradier.connection_id
    policy = SyncPolicy(stream=False, reconcile_interval=None)
    seen: list[SyncEvent] = []
    sync = SyncEngine({conn: tradier.broker}, policy=policy)
    sync.add_listener(seen.append)
    async with sync.subscribe() as events, sync:
        interval = sync.poll_interval(conn)
        # Tradier's standard window is 120 requests a minute; the sync takes half.
        assert interval == READS_PER_FULL_SYNC / (120 * 0.5 / 60)
        assert sync.state(conn).mode is SyncMode.POLLING
        for _ in range(FILLS):
            sync.mark_fill(conn, "KO")
            await tradier.broker.place_order(OrderRequest(symbol="KO", side=OrderSide.BUY,
                                                          quantity=1))
            await asyncio.sleep(PACE)
        async with asyncio.timeout(interval * 3):
            while sync.latency.pending(conn):
                await events.get()
        stats = sync.latency.stats(connection_id=conn, source=SyncSource.POLL)
        local = sync.state(conn).positions["KO"]
    assert local.quantity == FILLS
    assert all(e.source is SyncSource.POLL for e in seen)
    assert any(isinstance(e.payload, Position) for e in seen)
    assert stats.count == FILLS
    assert stats.p50 is not None
    assert stats.p99 is not None
    print(f"poll sync latency (tradier, {interval:.1f}s interval): "
          f"{stats.describe()}")
    assert stats.p99 < POLL_P99_TARGET
    assert stats.p99 <= interval + 1.0


async def test_tradier_stream_drives_the_sync(tradier: Market) -> None:
    assert isinstance(tradier.broker, TradierBroker)
    stream: OrderUpdateStream = tradier.broker.order_updates()  # typed: it conforms
    await stream.close()
    conn = tradier.connection_id
    sync = SyncEngine({conn: tradier.broker})
    async with sync.subscribe() as events, sync:
        await events.wait_for(lambda e: e.kind is SyncEventKind.STREAM_UP, 10)
        # Let the catch-up read that follows a subscription finish: a fill it already
        # saw would (rightly) not be applied again from the stream.
        await sync.settled(conn, 10)
        sync.mark_fill(conn, "PEP")
        await tradier.broker.place_order(OrderRequest(symbol="PEP", side=OrderSide.BUY,
                                                      quantity=3))
        event = await events.wait_for(
            lambda e: e.kind is SyncEventKind.POSITION and e.source is SyncSource.STREAM,
            10)
    assert isinstance(event.payload, Position)
    assert (event.payload.symbol, event.payload.quantity) == ("PEP", Decimal(3))
    assert event.latency is not None
    assert event.latency < 1.0
