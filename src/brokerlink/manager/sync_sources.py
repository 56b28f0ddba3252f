"""Where a connection's changes come from: its stream (if any) and its read budget.

* ``open_stream``: the broker's ``order_updates()`` (``StreamingBroker``), or for the
  paper broker its engine subscription adapted to ``OrderUpdate`` s (``PaperOrderStream``),
  or ``None`` for a broker that cannot stream.
* ``ReadBudget``: how many read requests per second the sync may spend on a
  connection, from the broker's documented rate limits (``budget_for``). The poll
  interval follows from it, so polling never takes more than its share and leaves the
  rest for trading and for the user's own reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from brokerlink.adapters.paper.broker import PaperBroker
from brokerlink.adapters.registry import resolve
from brokerlink.core.enums import DataSource
from brokerlink.core.events import OrderUpdate, OrderUpdateStream, StatusListener, StreamingBroker
from brokerlink.core.interface import BrokerInterface
from brokerlink.sim.events import SimEvent, Subscription

READS_PER_FULL_SYNC = 3
"""A full read costs positions + balances + orders: three requests from one window
(Tradier's quotes for position prices come from its separate market-data window)."""

MIN_POLL_INTERVAL = 0.25
"""Floor for brokers without a documented limit (paper): no busy loop on a local engine."""


@dataclass(frozen=True, slots=True)
class ReadBudget:
    """``requests`` read requests per ``per_seconds`` that the sync may use, as a
    ``share`` (0-1] of the broker's documented limit."""

    requests: int
    per_seconds: float
    share: float = 0.5

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.per_seconds <= 0 or not 0 < self.share <= 1:
            raise ValueError("a read budget needs positive requests and period and a "
                             "share within (0, 1]")

    def poll_interval(self, reads_per_sync: int = READS_PER_FULL_SYNC) -> float:
        """Seconds between full reads so they stay within this budget."""
        per_second = self.requests * self.share / self.per_seconds
        return max(MIN_POLL_INTERVAL, reads_per_sync / per_second)


def budget_for(broker: BrokerInterface, share: float = 0.5) -> ReadBudget | None:
    """The read budget from the documented limits in ``broker``'s spec
    (``BrokerSpec.read_budget``), or ``None`` when the broker documents none."""
    documented = resolve(broker.broker_type).read_budget
    if documented is None:
        return None
    return ReadBudget(documented.requests, documented.per_seconds, share)


class PaperOrderStream:
    """The paper engine's subscription as an ``OrderUpdateStream``. It never drops;
    cash events (which carry no order) are skipped, the reconcile sees them."""

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


def open_stream(broker: BrokerInterface) -> OrderUpdateStream | None:
    """A new (not yet entered) order stream for ``broker``, or ``None`` if it has none.
    Raises ``BrokerConnectionError`` before the broker is connected."""
    if isinstance(broker, PaperBroker):
        return PaperOrderStream(broker.subscribe)
    if isinstance(broker, StreamingBroker) and broker.capabilities.streaming:
        return broker.order_updates()
    return None


__all__ = ["MIN_POLL_INTERVAL", "READS_PER_FULL_SYNC", "PaperOrderStream", "ReadBudget",
           "budget_for", "open_stream", "to_order_update"]
