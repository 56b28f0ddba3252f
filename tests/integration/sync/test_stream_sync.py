"""Sync over a stream (Alpaca ``trade_updates`` on loopback): resting limit orders are
filled by moving the price through the admin API; each local position must update from
the stream, with fill-to-position latency p99 under one second."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from brokerlink.core.enums import OrderSide, OrderType, TimeInForce
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.models import Order, OrderRequest, Position
from brokerlink.manager.latency import SyncSource
from brokerlink.manager.sync import SyncEngine, SyncPolicy
from brokerlink.manager.sync_events import SyncEvent, SyncEventKind
from brokerlink.manager.sync_state import SyncMode
from tests.integration.sync.conftest import Market

FILLS = 25
STREAM_P99_TARGET = 1.0
WAIT = 10.0


Check = Callable[[SyncEvent], bool]


def is_kind(kind: SyncEventKind, connection_id: str) -> Check:
    def check(event: SyncEvent) -> bool:
        return event.kind is kind and event.connection_id == connection_id
    return check


def position_of(symbol: str, *, source: SyncSource | None = None) -> Check:
    def check(event: SyncEvent) -> bool:
        return (event.kind is SyncEventKind.POSITION and isinstance(event.payload, Position)
                and event.payload.symbol == symbol
                and (source is None or event.source is source))
    return check


def order_event(order_id: str | None) -> Check:
    def check(event: SyncEvent) -> bool:
        return (event.kind is SyncEventKind.ORDER and isinstance(event.payload, Order)
                and event.payload.order_id == order_id)
    return check


def limit_buy(symbol: str, price: str) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=1,
                        order_type=OrderType.LIMIT, limit_price=Decimal(price),
                        time_in_force=TimeInForce.GTC)


async def test_adapters_present_the_uniform_stream(alpaca: Market) -> None:
    assert alpaca.broker.capabilities.streaming
    stream: OrderUpdateStream = alpaca.broker.order_updates()
    assert isinstance(stream, OrderUpdateStream)
    await stream.close()


async def test_fills_reach_local_positions_over_the_stream(alpaca: Market) -> None:
    conn = alpaca.connection_id
    sync = SyncEngine({conn: alpaca.broker})
    async with sync.subscribe() as events, sync:
        await events.wait_for(is_kind(SyncEventKind.STREAM_UP, conn), WAIT)
        await sync.settled(conn, WAIT)
        assert sync.state(conn).mode is SyncMode.STREAM
        for n in range(1, FILLS + 1):
            await alpaca.set_price("NVDA", "140.00")
            placed = await alpaca.broker.place_order(limit_buy("NVDA", "130.00"))
            await events.wait_for(order_event(placed.order_id), WAIT)
            sync.mark_fill(conn, "NVDA")
            await alpaca.set_price("NVDA", "129.00")
            event = await events.wait_for(position_of("NVDA", source=SyncSource.STREAM), WAIT)
            assert isinstance(event.payload, Position)
            assert event.payload.quantity == n
            assert event.latency is not None
        stats = sync.latency.stats(connection_id=conn, source=SyncSource.STREAM)
        local = sync.state(conn).positions["NVDA"]
    at_broker = {p.symbol: p for p in await alpaca.broker.get_positions()}
    assert local.quantity == at_broker["NVDA"].quantity == FILLS
    assert stats.count == FILLS
    assert stats.p50 is not None
    assert stats.p99 is not None
    print(f"stream sync latency (alpaca): {stats.describe()}")
    assert stats.p99 < STREAM_P99_TARGET
    assert stats.p50 <= stats.p99


async def test_open_orders_and_balances_follow_the_stream(alpaca: Market) -> None:
    conn = alpaca.connection_id
    policy = SyncPolicy(reconcile_interval=None)
    sync = SyncEngine({conn: alpaca.broker}, policy=policy)
    async with sync.subscribe() as events, sync:
        await events.wait_for(is_kind(SyncEventKind.STREAM_UP, conn), WAIT)
        await alpaca.set_price("KO", "70.00")
        placed = await alpaca.broker.place_order(limit_buy("KO", "60.00"))
        assert placed.order_id is not None
        await events.wait_for(order_event(placed.order_id), WAIT)
        assert placed.order_id in sync.state(conn).open_orders
        before = sync.state(conn).balances
        assert before is not None
        await alpaca.set_price("KO", "59.00")
        await events.wait_for(position_of("KO", source=SyncSource.STREAM), WAIT)
        assert placed.order_id not in sync.state(conn).open_orders
        # The stream carries no cash: the follow-up read brings the balances.
        balance = await events.wait_for(is_kind(SyncEventKind.BALANCE, conn), WAIT)
        assert balance.source is SyncSource.POLL
        after = sync.state(conn).balances
        assert after is not None
        assert after.cash < before.cash
        assert sync.state(conn).repairs == 0


async def test_fills_racing_a_busy_reconcile_are_not_drift(alpaca: Market) -> None:
    conn = alpaca.connection_id
    sync = SyncEngine({conn: alpaca.broker}, policy=SyncPolicy(reconcile_interval=0.05))
    async with sync.subscribe() as events, sync:
        await events.wait_for(is_kind(SyncEventKind.STREAM_UP, conn), WAIT)
        for n in range(1, 11):
            await alpaca.broker.place_order(OrderRequest(symbol="PEP", side=OrderSide.BUY,
                                                         quantity=1))
            event = await events.wait_for(position_of("PEP"), WAIT)
            assert isinstance(event.payload, Position)
            assert event.payload.quantity == n
        # Follow-up reads of the fills done, the state is no longer in flux: cash that
        # changes now is real drift (the stream carries no cash).
        await sync.settled(conn, WAIT)
        assert sync.state(conn).repairs == 0
        await alpaca.fund("1")
        drift = await events.wait_for(is_kind(SyncEventKind.DRIFT_REPAIRED, conn), WAIT)
        state = sync.state(conn)
    assert drift.source is SyncSource.RECONCILE
    assert state.repairs == 1
    assert state.positions["PEP"].quantity == 10
