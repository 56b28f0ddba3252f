"""The unified stream event (``OrderUpdate``) and the streaming side of a broker.

Every broker stream (Alpaca's ``trade_updates``, Tradier's account events, the paper
engine's events) yields the same frozen ``OrderUpdate``: the broker's own event name,
kept raw, and the order right after the event, whose ``status`` is the mapped
``OrderStatus``. A broker whose ``capabilities.streaming`` is true returns an
``OrderUpdateStream`` from ``BrokerInterface.order_updates()``: ``async with`` it, then
iterate (a broker that cannot stream raises ``NotSupportedError`` there).

Streams reconnect by themselves and do not replay what was sent while they were away,
so a consumer that must not miss a fill listens to the stream's status (``on_status``)
and re-reads orders and positions after each reconnection.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict

from brokerlink.core.enums import DataSource, OrderStatus
from brokerlink.core.models import Order
from brokerlink.core.values import Dec, UtcDatetime

StatusListener = Callable[[bool], None]
"""Called with ``True`` each time a stream is (re)subscribed and ``False`` when it drops.
It runs inside the stream's iteration, so it must not block or raise."""


class OrderUpdate(BaseModel):
    """One order event from a broker stream.

    ``event`` is the broker's own name (Alpaca ``fill``, Tradier ``filled``, paper
    ``partial_fill``...), never reinterpreted; ``status`` is the mapped status of
    ``order``. Fill figures are those of *this* event, when the broker sends them:
    ``fill_quantity`` is the quantity of this fill (not the order's total),
    ``position_quantity`` the position after it (Alpaca and paper only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str
    order: Order
    timestamp: UtcDatetime | None = None
    fill_price: Dec | None = None
    fill_quantity: Dec | None = None
    position_quantity: Dec | None = None
    execution_id: str | None = None
    parent_order_id: str | None = None
    source: DataSource = DataSource.STREAM

    @property
    def status(self) -> OrderStatus:
        """The order's mapped status right after this event."""
        return self.order.status

    @property
    def is_fill(self) -> bool:
        """Whether this event reports shares changing hands."""
        if self.fill_quantity is not None:
            return self.fill_quantity > 0
        return self.order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)


@runtime_checkable
class OrderUpdateStream(Protocol):
    """An open-able, self-reconnecting stream of ``OrderUpdate`` s.

    ``async with stream: async for update in stream: ...``; iteration ends after
    ``close``. ``reconnects`` counts reconnections so far. Entering raises
    ``AuthError`` for refused credentials or ``BrokerConnectionError`` when the stream
    cannot be reached; iterating raises ``BrokerConnectionError`` when it cannot be
    reopened after a drop.
    """

    @property
    def reconnects(self) -> int: ...

    def on_status(self, listener: StatusListener | None) -> None:
        """Call ``listener(True)`` on every (re)subscription, ``listener(False)`` on
        every drop; ``None`` removes it."""

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    def __aiter__(self) -> Self: ...

    async def __anext__(self) -> OrderUpdate: ...


__all__ = ["OrderUpdate", "OrderUpdateStream", "StatusListener"]
