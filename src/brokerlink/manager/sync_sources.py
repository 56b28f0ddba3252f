"""Where a connection's changes come from: its stream (if any) and its read budget.

* ``open_stream``: the broker's ``order_updates()`` where its capabilities say it
  streams, or ``None`` for a broker that cannot stream.
* ``ReadBudget``: how many read requests per second the sync may spend on a
  connection, from the broker's documented rate limits (``budget_for``). The poll
  interval follows from it, so polling never takes more than its share and leaves the
  rest for trading and for the user's own reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from brokerlink.adapters.registry import resolve
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.interface import BrokerInterface

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


def open_stream(broker: BrokerInterface) -> OrderUpdateStream | None:
    """A new (not yet entered) order stream for ``broker``, or ``None`` if it has none.
    Raises ``BrokerConnectionError`` before the broker is connected."""
    if broker.capabilities.streaming:
        return broker.order_updates()
    return None


__all__ = ["MIN_POLL_INTERVAL", "READS_PER_FULL_SYNC", "ReadBudget", "budget_for",
           "open_stream"]
