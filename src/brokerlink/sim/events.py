"""Order and account events, fanned out to any number of async subscribers.

Publishing is synchronous and cheap when nobody listens, so the engine can emit on
every change without slowing the hot path. Each subscriber owns an unbounded queue:
the engine never blocks on a slow consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import TracebackType
from typing import Self

from brokerlink.core.models import Order

_log = logging.getLogger(__name__)


class EventKind(StrEnum):
    NEW = "new"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REPLACED = "replaced"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CASH = "cash"


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One change: ``order`` is the order's state right after it (None for cash events)."""

    seq: int
    kind: EventKind
    account_id: str
    at: datetime
    order: Order | None = None
    fill_quantity: Decimal | None = None
    fill_price: Decimal | None = None
    position_quantity: Decimal | None = None
    amount: Decimal | None = None


class Subscription:
    """An async iterator of events for one subscriber; close it (or use ``async with``)."""

    def __init__(self, hub: EventHub, account_id: str | None) -> None:
        self._hub = hub
        self.account_id = account_id
        self._queue: asyncio.Queue[SimEvent | None] = asyncio.Queue()

    def deliver(self, event: SimEvent) -> None:
        if self.account_id is None or event.account_id == self.account_id:
            self._queue.put_nowait(event)

    def pending(self) -> int:
        return self._queue.qsize()

    async def get(self) -> SimEvent:
        """The next event. Raises ``StopAsyncIteration`` once closed (every time: the
        end marker stays queued, so a second reader or a second loop ends too)."""
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)
            raise StopAsyncIteration
        return event

    def get_nowait(self) -> SimEvent | None:
        """The next queued event, or None if there is none right now."""
        try:
            event = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if event is None:
            self._queue.put_nowait(None)
        return event

    def close(self) -> None:
        self._hub.unsubscribe(self)
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[SimEvent]:
        return self

    async def __anext__(self) -> SimEvent:
        return await self.get()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """Fans events out to subscriptions and plain callbacks."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[SimEvent], None]] = []
        self._seq = 0

    @property
    def has_listeners(self) -> bool:
        return bool(self._subscriptions or self._listeners)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def subscribe(self, account_id: str | None = None) -> Subscription:
        """Events from now on, for one account or (``None``) for all."""
        subscription = Subscription(self, account_id)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def add_listener(self, listener: Callable[[SimEvent], None]) -> None:
        """Call ``listener`` synchronously for every event (emulator websocket hubs use it)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[SimEvent], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, event: SimEvent) -> None:
        """Deliver ``event`` everywhere. A listener that raises is logged and skipped:
        the engine publishes in the middle of a change, which must not stop half done."""
        for subscription in self._subscriptions:
            subscription.deliver(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.exception("event listener %r failed on %s event %d", listener,
                               event.kind.value, event.seq)
