"""Where the manager keeps its orders: the journal's intents and the closed-market queue.

The manager names only these protocols; ``storage/`` implements them over SQLAlchemy
(``storage.journal.JournalRepository``, ``storage.order_queue.OrderQueueRepository``)
and ``bootstrap`` joins the two (``bootstrap.order_stores``). The records and the
conflict error are plain values the stores hand over, not storage machinery.

Every method is one transaction of the store's; status writes are compare-and-set, so
two writers (tasks or processes) can never both move one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from brokerlink.core.enums import OrderStatus
from brokerlink.storage.journal import IntentConflictError, IntentRecord
from brokerlink.storage.order_queue import QueuedOrderRecord, QueueStatus


class IntentStore(Protocol):
    """The order journal's intents (``IntentRecord``), one per order written ahead."""

    async def insert(self, record: IntentRecord) -> IntentRecord:
        """Store a new intent. Raises ``IntentConflictError`` (carrying the stored one,
        if it can be read) when its client order id or idempotency key is already
        stored on its connection, in this process or another."""
        ...

    async def get(self, intent_id: str) -> IntentRecord | None:
        """The intent with ``intent_id``, or ``None``."""
        ...

    async def by_key(self, connection_id: str, idempotency_key: str) -> IntentRecord | None:
        """The intent stored under an idempotency key on a connection, or ``None``."""
        ...

    async def by_client_order_id(self, connection_id: str,
                                 client_order_id: str) -> IntentRecord | None:
        """The intent with a client order id on a connection, or ``None``."""
        ...

    async def by_broker_order_id(self, account_id: str,
                                 broker_order_id: str) -> IntentRecord | None:
        """The intent a broker order id was matched to in an account, or ``None``."""
        ...

    async def by_account_client_order_id(self, account_id: str,
                                         client_order_id: str) -> IntentRecord | None:
        """The intent with a client order id in an account (any connection), or ``None``."""
        ...

    async def list(self, *, statuses: Iterable[OrderStatus] | None = None,
                   connection_id: str | None = None,
                   account_id: str | None = None) -> list[IntentRecord]:
        """Intents, oldest first, filtered by status, connection and account when given."""
        ...

    async def transition(self, record: IntentRecord, **changes: Any) -> IntentRecord | None:
        """Write ``changes`` (``IntentRecord`` fields) if the stored status and reply are
        still ``record``'s; the updated record, or ``None`` when another writer moved it
        first (re-read and decide again). Raises ``ValueError`` for a name that is not
        an intent field."""
        ...


class OrderQueueStore(Protocol):
    """Orders held while the market is closed (``QueuedOrderRecord``)."""

    async def add(self, record: QueuedOrderRecord) -> None:
        """Store a new queued order; raises the store's integrity error on a used id."""
        ...

    async def get(self, queued_id: str) -> QueuedOrderRecord | None:
        """The queued order with ``queued_id``, or ``None``."""
        ...

    async def list(self, *, statuses: Iterable[QueueStatus] | None = None,
                   due_by: datetime | None = None) -> list[QueuedOrderRecord]:
        """Queued orders, oldest first; only ``statuses`` and ``release_at <= due_by``
        when given."""
        ...

    async def set_status(self, record: QueuedOrderRecord, status: QueueStatus, *,
                         now: datetime, message: str | None = None,
                         result_json: str | None = None) -> bool:
        """Move ``record`` to ``status`` if it is still in ``record.status``; False
        (nothing written) when another writer moved it first."""
        ...


@dataclass(frozen=True, slots=True)
class OrderStores:
    """The stores a ``BrokerManager`` keeps orders in: the journal's intents and the
    closed-market queue (``bootstrap.order_stores`` builds them over one database)."""

    intents: IntentStore
    queue: OrderQueueStore


__all__ = ["IntentConflictError", "IntentRecord", "IntentStore", "OrderQueueStore",
           "OrderStores", "QueueStatus", "QueuedOrderRecord"]
