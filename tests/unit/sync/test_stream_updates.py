"""A stream fill applied to local state: published only when it changes something."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from brokerlink.adapters.paper.broker import PaperBroker
from brokerlink.core.enums import OrderStatus
from brokerlink.core.events import OrderUpdate
from brokerlink.core.models import Position
from brokerlink.manager.latency import LatencyTracker
from brokerlink.manager.sync import SyncPolicy, SyncTarget, _ConnectionSync
from brokerlink.manager.sync_events import EventBus, SyncEvent, SyncEventKind
from tests.unit.sync.test_state import order, position

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _sync_holding(quantity: str) -> tuple[_ConnectionSync, list[SyncEvent]]:
    bus = EventBus()
    published: list[SyncEvent] = []
    bus.add_listener(published.append)
    sync = _ConnectionSync(SyncTarget("c", PaperBroker()), SyncPolicy(), bus, LatencyTracker())
    sync.state.positions["KO"] = position("KO", quantity)
    return sync, published


def _fill(position_quantity: str) -> OrderUpdate:
    return OrderUpdate(event="fill", order=order("9", OrderStatus.FILLED, "5"), timestamp=AT,
                       fill_price=Decimal("10"), fill_quantity=Decimal(5),
                       position_quantity=Decimal(position_quantity), execution_id="x-9")


async def test_a_fill_a_read_already_brought_in_publishes_no_position() -> None:
    # A reconcile read saw the position (10) before the stream's fill message arrived.
    sync, published = _sync_holding("10")
    sync.apply_update(_fill("10"))
    assert [event.kind for event in published] == [SyncEventKind.ORDER]
    assert sync.state.positions["KO"].quantity == 10


async def test_a_fill_that_moves_the_position_is_published() -> None:
    sync, published = _sync_holding("5")
    sync.apply_update(_fill("10"))
    assert [event.kind for event in published] == [SyncEventKind.ORDER, SyncEventKind.POSITION]
    moved = published[-1].payload
    assert isinstance(moved, Position)
    assert moved.quantity == sync.state.positions["KO"].quantity == 10
