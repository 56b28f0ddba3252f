"""``JournalFeed``: the order journal follows what the sync engine sees.

Every order the sync engine publishes (a stream update, or an order a poll or
reconcile found changed) is handed to ``OrderJournal.update_from_order``, so an intent
moves from ``new`` to ``filled`` (or ``canceled``...) as the broker reports it, and an
intent whose reply was lost (``unknown``) is resolved the moment the broker's own
record of it arrives.

The bus delivers events synchronously and the journal writes to the database, so the
feed keeps its own queue and one task drains it in order: updates of one order are
applied in the order the engine saw them, and a slow database never blocks the sync.
A failed write is logged and dropped: the next poll or reconcile publishes the order
again if it still differs, and ``OrderJournal.reconcile`` covers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from brokerlink.core.errors import BrokerError
from brokerlink.core.models import Order
from brokerlink.manager.sync_events import SyncEvent, SyncEventKind, SyncSubscription

logger = logging.getLogger("brokerlink.manager.journal_feed")


class OrderUpdateSink(Protocol):
    """What the feed writes to (``OrderJournal.update_from_order``)."""

    async def update_from_order(self, order: Order) -> object: ...


def is_order_event(event: SyncEvent) -> bool:
    return event.kind is SyncEventKind.ORDER and isinstance(event.payload, Order)


class JournalFeed:
    """Drains order events from a ``SyncSubscription`` into the journal.

    ``start`` begins draining; ``drain`` waits until every event delivered so far is
    written; ``stop`` writes what is queued, then ends. ``applied`` and ``failed``
    count writes.
    """

    def __init__(self, subscription: SyncSubscription, journal: OrderUpdateSink) -> None:
        self._subscription = subscription
        self._journal = journal
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self._written = asyncio.Condition()
        self.applied = 0
        self.failed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="journal-feed")

    async def _run(self) -> None:
        while True:
            try:
                event = await self._subscription.get()
            except StopAsyncIteration:
                return
            if not isinstance(event.payload, Order):
                continue
            self._writing = True
            try:
                await self._journal.update_from_order(event.payload)
                self.applied += 1
            except BrokerError as exc:
                self.failed += 1
                logger.warning("journal update for order %s failed: %s",
                               event.payload.order_id, type(exc).__name__)
            finally:
                self._writing = False
            async with self._written:
                self._written.notify_all()

    async def drain(self, within: float = 10.0) -> None:
        """Wait until the queue is empty and the last write is done. Raises
        ``TimeoutError`` after ``within`` seconds."""
        async with asyncio.timeout(within), self._written:
            await self._written.wait_for(self._idle)

    def _idle(self) -> bool:
        return not self._subscription.pending and not self._writing

    async def stop(self) -> None:
        """Write everything already delivered, then end the task; idempotent."""
        # Closing queues the end marker behind what was delivered: the task writes
        # those first, then ends.
        self._subscription.close()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["JournalFeed", "OrderUpdateSink", "is_order_event"]
