"""The journal feed: order events written in order, failures counted, nothing lost on
stop."""

from __future__ import annotations

import asyncio

from brokerlink.core.enums import OrderStatus
from brokerlink.core.models import AccountBalances, Order
from brokerlink.manager.journal_feed import JournalFeed, is_order_event
from brokerlink.manager.latency import SyncSource
from brokerlink.manager.sync_events import EventBus, SyncEvent, SyncEventKind
from brokerlink.storage import StorageError
from tests.unit.sync.test_state import balances, order


class SlowJournal:
    """Records what it was given; fails on order ids it is told to."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.written: list[tuple[str, OrderStatus]] = []
        self.failing = failing

    async def update_from_order(self, update: Order) -> None:
        await asyncio.sleep(0.01)
        if update.order_id in self.failing:
            raise StorageError("the database is gone")
        self.written.append((update.order_id, update.status))


def publish(bus: EventBus, payload: Order | AccountBalances) -> None:
    kind = SyncEventKind.ORDER if isinstance(payload, Order) else SyncEventKind.BALANCE
    bus.publish(SyncEvent(kind=kind, connection_id="c", payload=payload,
                          source=SyncSource.STREAM))


async def test_orders_are_written_in_order_and_other_events_ignored() -> None:
    bus, journal = EventBus(), SlowJournal()
    feed = JournalFeed(bus.subscribe(is_order_event), journal)
    feed.start()
    publish(bus, order("1", OrderStatus.NEW))
    publish(bus, balances("100"))
    publish(bus, order("1", OrderStatus.PARTIALLY_FILLED, filled="2"))
    publish(bus, order("1", OrderStatus.FILLED, filled="5"))
    await feed.drain(within=5)
    assert journal.written == [("1", OrderStatus.NEW), ("1", OrderStatus.PARTIALLY_FILLED),
                               ("1", OrderStatus.FILLED)]
    assert (feed.applied, feed.failed) == (3, 0)
    await feed.stop()


async def test_a_failed_write_is_counted_and_the_feed_goes_on() -> None:
    bus, journal = EventBus(), SlowJournal(failing=frozenset({"bad"}))
    feed = JournalFeed(bus.subscribe(is_order_event), journal)
    feed.start()
    publish(bus, order("bad", OrderStatus.NEW))
    publish(bus, order("2", OrderStatus.NEW))
    await feed.drain(within=5)
    assert journal.written == [("2", OrderStatus.NEW)]
    assert (feed.applied, feed.failed) == (1, 1)
    await feed.stop()


async def test_stop_writes_what_was_already_delivered() -> None:
    bus, journal = EventBus(), SlowJournal()
    feed = JournalFeed(bus.subscribe(is_order_event), journal)
    feed.start()
    for number in range(5):
        publish(bus, order(str(number), OrderStatus.NEW))
    await feed.stop()
    assert [order_id for order_id, _ in journal.written] == ["0", "1", "2", "3", "4"]
    publish(bus, order("late", OrderStatus.NEW))
    await asyncio.sleep(0.05)
    assert len(journal.written) == 5
    await feed.stop()
