"""When the stream drops the sync falls back to polling, reconnects, and switches back;
drift made behind the sync's back is found and repaired by the periodic reconcile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from brokerlink.core.enums import OrderSide
from brokerlink.core.models import AccountBalances, OrderRequest, Position
from brokerlink.manager.latency import SyncSource
from brokerlink.manager.sync import SyncEngine, SyncPolicy
from brokerlink.manager.sync_events import DriftRepair, StreamNotice, SyncEvent, SyncEventKind
from brokerlink.manager.sync_state import SyncMode
from tests.integration.sync.conftest import Market

WAIT = 10.0
POLL_P99_TARGET = 5.0


def buy(symbol: str, quantity: int = 1) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity)


def position(symbol: str, source: SyncSource) -> Callable[[SyncEvent], bool]:
    def check(event: SyncEvent) -> bool:
        return (event.kind is SyncEventKind.POSITION and event.source is source
                and isinstance(event.payload, Position) and event.payload.symbol == symbol)
    return check


async def test_stream_drop_falls_back_to_polling_and_switches_back(alpaca: Market) -> None:
    conn = alpaca.connection_id
    policy = SyncPolicy(reconcile_interval=None)
    sync = SyncEngine({conn: alpaca.broker}, policy=policy)
    async with sync.subscribe() as events, sync:
        await events.wait_for(lambda e: e.kind is SyncEventKind.STREAM_UP, WAIT)
        await sync.settled(conn, WAIT)
        # The next stream message closes the websocket: this fill's events are lost.
        await alpaca.fault(kind="stream_drop", path="/stream", after_messages=0, count=1)
        sync.mark_fill(conn, "KO")
        await alpaca.broker.place_order(buy("KO", 2))
        seen: list[SyncEvent] = []
        async with asyncio.timeout(WAIT):
            # Down, then a poll finds the lost fill, and the stream is back: the last two
            # in either order (the reconnection can beat the fallback poll).
            while not (any(e.kind is SyncEventKind.STREAM_UP for e in seen)
                       and any(position("KO", SyncSource.POLL)(e) for e in seen)):
                seen.append(await events.get())
        kinds = [e.kind for e in seen]
        assert SyncEventKind.STREAM_DOWN in kinds
        assert kinds.index(SyncEventKind.STREAM_DOWN) < kinds.index(SyncEventKind.STREAM_UP)
        polled = next(e for e in seen if position("KO", SyncSource.POLL)(e))
        assert isinstance(polled.payload, Position)
        assert polled.payload.quantity == 2
        assert polled.latency is not None
        assert polled.latency < POLL_P99_TARGET
        up = next(e for e in seen if e.kind is SyncEventKind.STREAM_UP)
        assert isinstance(up.payload, StreamNotice)
        assert up.payload.reconnects == 1
        await sync.settled(conn, WAIT)
        assert sync.state(conn).mode is SyncMode.STREAM
        # Back on the stream: the next fill arrives from it again.
        sync.mark_fill(conn, "KO")
        await alpaca.broker.place_order(buy("KO", 1))
        streamed = await events.wait_for(position("KO", SyncSource.STREAM), WAIT)
        assert isinstance(streamed.payload, Position)
        assert streamed.payload.quantity == 3
        assert streamed.latency is not None
        assert streamed.latency < 1.0
        assert sync.state(conn).stream_reconnects == 1


async def test_reconcile_repairs_drift_made_behind_the_syncs_back(alpaca: Market) -> None:
    conn = alpaca.connection_id
    # No stream and no polling: only the periodic reconcile reads.
    policy = SyncPolicy(stream=False, poll=False, reconcile_interval=0.2)
    sync = SyncEngine({conn: alpaca.broker}, policy=policy)
    async with sync.subscribe() as events, sync:
        assert sync.state(conn).mode is SyncMode.RECONCILE_ONLY
        before = sync.state(conn).balances
        assert before is not None
        await alpaca.fund("2500")
        await alpaca.broker.place_order(buy("MSFT", 3))
        repaired: dict[str, DriftRepair] = {}
        async with asyncio.timeout(WAIT):
            while not {"balance", "position"} <= set(repaired):
                event = await events.get()
                if event.kind is SyncEventKind.DRIFT_REPAIRED:
                    assert isinstance(event.payload, DriftRepair)
                    assert event.source is SyncSource.RECONCILE
                    repaired[event.payload.area] = event.payload
        state = sync.state(conn)
        assert state.repairs >= 2
    assert repaired["position"].key == "MSFT"
    assert repaired["position"].local is None
    assert repaired["position"].broker is not None
    assert repaired["position"].broker.startswith("3 @ ")
    assert state.positions["MSFT"].quantity == 3
    fresh = await alpaca.broker.get_balances()
    assert isinstance(state.balances, AccountBalances)
    assert state.balances.cash == fresh.cash
    assert state.balances.cash != before.cash
    assert fresh.cash - before.cash < Decimal(2500)  # funded, then paid for MSFT


async def test_reconcile_with_nothing_changed_repairs_nothing(alpaca: Market) -> None:
    conn = alpaca.connection_id
    policy = SyncPolicy(stream=False, poll=False, reconcile_interval=None)
    async with SyncEngine({conn: alpaca.broker}, policy=policy) as sync:
        assert await sync.reconcile(conn) == 0
        await alpaca.fund("100")
        assert await sync.reconcile(conn) == 1
        assert sync.state(conn).repairs == 1
