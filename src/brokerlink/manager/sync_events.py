"""What the sync engine publishes: frozen ``SyncEvent`` s, fanned out to subscribers.

Each subscriber owns an unbounded queue, so the engine never waits on a slow consumer
(the same choice as ``sim.events``); a subscriber that stops reading should close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from brokerlink.core.models import AccountBalances, Order, Position
from brokerlink.core.values import UtcDatetime, utc_now
from brokerlink.manager.latency import SyncSource


class SyncEventKind(StrEnum):
    ORDER = "order"
    POSITION = "position"
    BALANCE = "balance"
    DRIFT_REPAIRED = "drift_repaired"
    STREAM_DOWN = "stream_down"
    STREAM_UP = "stream_up"


class DriftRepair(BaseModel):
    """One difference a reconcile found between local state and the broker, and fixed.

    ``area`` is ``position``, ``balance`` or ``order``; ``key`` the symbol, field or
    order id; ``local``/``broker`` the differing values as text (``None``: absent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    area: str
    key: str
    local: str | None
    broker: str | None


class StreamNotice(BaseModel):
    """Why a stream went down or came back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str
    reconnects: int = 0


Payload = Order | Position | AccountBalances | DriftRepair | StreamNotice


class SyncEvent(BaseModel):
    """One change to a connection's local state (or to how it is kept current).

    ``latency`` (seconds) is set on position events that completed a latency sample.
    A position that went flat is published with quantity zero.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SyncEventKind
    connection_id: str
    payload: Payload
    as_of: UtcDatetime = Field(default_factory=utc_now)
    source: SyncSource
    latency: float | None = None


class SyncSubscription:
    """The events published from now on: ``async for event in subscription`` (ends once
    closed); ``async with`` closes it."""

    def __init__(self, bus: EventBus,
                 predicate: Callable[[SyncEvent], bool] | None = None) -> None:
        self._bus = bus
        self._predicate = predicate
        self._queue: asyncio.Queue[SyncEvent | None] = asyncio.Queue()
        self.closed = False

    def deliver(self, event: SyncEvent) -> None:
        if not self.closed and (self._predicate is None or self._predicate(event)):
            self._queue.put_nowait(event)

    async def get(self) -> SyncEvent:
        """The next event. Raises ``StopAsyncIteration`` once closed."""
        event = await self._queue.get()
        if event is None:
            # Keep the end marker, so every later read ends too.
            self._queue.put_nowait(None)
            raise StopAsyncIteration
        return event

    async def wait_for(self, predicate: Callable[[SyncEvent], bool],
                       within: float) -> SyncEvent:
        """The next event satisfying ``predicate``, skipping others. Raises
        ``TimeoutError`` after ``within`` seconds, ``StopAsyncIteration`` if closed."""
        async with asyncio.timeout(within):
            while True:
                event = await self.get()
                if predicate(event):
                    return event

    @property
    def pending(self) -> int:
        """Events delivered and not yet read."""
        # Once closed, the queue also holds the end marker.
        return max(0, self._queue.qsize() - 1) if self.closed else self._queue.qsize()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus.unsubscribe(self)
            self._queue.put_nowait(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SyncEvent:
        return await self.get()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class EventBus:
    """Fans ``SyncEvent`` s out to subscriptions and plain callbacks."""

    def __init__(self) -> None:
        self._subscriptions: list[SyncSubscription] = []
        self._listeners: list[Callable[[SyncEvent], None]] = []

    def subscribe(self, predicate: Callable[[SyncEvent], bool] | None = None,
                  ) -> SyncSubscription:
        subscription = SyncSubscription(self, predicate)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: SyncSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def add_listener(self, listener: Callable[[SyncEvent], None]) -> None:
        """Call ``listener`` synchronously for every event; it must not raise."""
        self._listeners.append(listener)

    def publish(self, event: SyncEvent) -> None:
        for subscription in list(self._subscriptions):
            subscription.deliver(event)
        for listener in list(self._listeners):
            listener(event)

    def close(self) -> None:
        """End every subscription."""
        for subscription in list(self._subscriptions):
            subscription.close()


__all__ = ["DriftRepair", "EventBus", "Payload", "StreamNotice", "SyncEvent",
           "SyncEventKind", "SyncSubscription"]
