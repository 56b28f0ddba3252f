"""The paper broker's order stream: its engine events as ``OrderUpdate`` s.

``PaperBroker.order_updates()`` returns a ``PaperOrderStream`` over the broker's
subscription, so the paper broker streams through the same interface method as every
adapter (``capabilities.streaming`` is true to behaviour, and nothing outside this
package needs to know the paper broker is special).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from brokerlink.core.enums import DataSource
from brokerlink.core.events import OrderUpdate, StatusListener
from brokerlink.sim.events import SimEvent, Subscription


class PaperOrderStream:
    """The paper engine's subscription as an ``OrderUpdateStream``.

    The subscription opens on entry (so events from then on arrive) and is in-process:
    it never drops, so ``reconnects`` stays 0 and the status listener hears ``True``
    once. Cash events (which carry no order) are skipped; the reconcile sees them.
    Entering raises ``BrokerConnectionError`` when the broker is not connected.
    """

    def __init__(self, subscribe: Callable[[], Subscription]) -> None:
        self._subscribe = subscribe
        self._subscription: Subscription | None = None
        self._status: StatusListener | None = None
        self.reconnects = 0

    def on_status(self, listener: StatusListener | None) -> None:
        self._status = listener

    async def __aenter__(self) -> Self:
        self._subscription = self._subscribe()
        if self._status is not None:
            self._status(True)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> OrderUpdate:
        """The next order event. Raises ``StopAsyncIteration`` once closed."""
        while True:
            if self._subscription is None:
                raise StopAsyncIteration
            update = to_order_update(await self._subscription.get())
            if update is not None:
                return update


def to_order_update(event: SimEvent) -> OrderUpdate | None:
    """A paper engine event as an ``OrderUpdate`` (``None`` for a cash event)."""
    if event.order is None:
        return None
    return OrderUpdate(event=event.kind.value, order=event.order, timestamp=event.at,
                       fill_price=event.fill_price, fill_quantity=event.fill_quantity,
                       position_quantity=event.position_quantity,
                       execution_id=f"paper-{event.seq}" if event.fill_quantity else None,
                       source=DataSource.SIMULATION)


__all__ = ["PaperOrderStream", "to_order_update"]
