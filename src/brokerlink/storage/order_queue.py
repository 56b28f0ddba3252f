"""OrderQueueRepository: orders held while the market is closed (``order_queue``).

Every method is one transaction. Status changes are compare-and-set on the current
status, so a release and a cancel racing for one order cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, and_, insert, select, update

from brokerlink.storage.engine import Database
from brokerlink.storage.journal import write_transaction
from brokerlink.storage.tables import order_queue as queue


class QueueStatus(StrEnum):
    """Where a queued order is: waiting, or how it left the queue."""

    QUEUED = "queued"
    RELEASED = "released"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class QueuedOrderRecord:
    """One queued order as stored; ``request_json`` is the ``OrderRequest`` as JSON."""

    id: str
    connection_id: str
    account_id: str
    request_json: str
    client_order_id: str
    status: QueueStatus
    queued_at: datetime
    release_at: datetime
    expires_at: datetime
    updated_at: datetime
    reference_price: Decimal | None = None
    collar_pct: Decimal | None = None
    message: str | None = None
    result_json: str | None = None


_COLUMNS = tuple(f.name for f in fields(QueuedOrderRecord))


class OrderQueueRepository:
    """Persistence of ``QueuedOrderRecord``s; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, record: QueuedOrderRecord) -> None:
        """Store a new queued order. Raises ``IntegrityError`` on a duplicate id."""
        async with write_transaction(self._db) as conn:
            await conn.execute(insert(queue).values(**_to_row(record)))

    async def get(self, queued_id: str) -> QueuedOrderRecord | None:
        """The queued order with ``queued_id``, or ``None``."""
        async with self._db.transaction() as conn:
            row = (await conn.execute(
                select(queue).where(queue.c.id == queued_id))).mappings().first()
        return _from_row(row) if row is not None else None

    async def list(self, *, statuses: Iterable[QueueStatus] | None = None,
                   due_by: datetime | None = None) -> list[QueuedOrderRecord]:
        """Queued orders, oldest first; only ``statuses`` and ``release_at <= due_by``."""
        query = select(queue)
        if statuses is not None:
            query = query.where(queue.c.status.in_([s.value for s in statuses]))
        if due_by is not None:
            query = query.where(queue.c.release_at <= due_by)
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                query.order_by(queue.c.queued_at, queue.c.id))).mappings().all()
        return [_from_row(row) for row in rows]

    async def set_status(self, record: QueuedOrderRecord, status: QueueStatus, *,
                         now: datetime, message: str | None = None,
                         result_json: str | None = None) -> bool:
        """Move ``record`` to ``status`` if it is still in ``record.status``.

        Returns False when another writer moved it first (nothing is written).
        """
        async with write_transaction(self._db) as conn:
            result = await conn.execute(
                update(queue)
                .where(and_(queue.c.id == record.id, queue.c.status == record.status.value))
                .values(status=status.value, updated_at=now, message=message,
                        result_json=result_json))
        return bool(result.rowcount)


def _to_row(record: QueuedOrderRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _COLUMNS}
    row["status"] = record.status.value
    for name in ("reference_price", "collar_pct"):
        value = row[name]
        row[name] = None if value is None else str(value)
    return row


def _from_row(row: RowMapping) -> QueuedOrderRecord:
    values = {name: row[name] for name in _COLUMNS}
    values["status"] = QueueStatus(row["status"])
    for name in ("reference_price", "collar_pct"):
        value = row[name]
        values[name] = None if value is None else Decimal(value)
    return QueuedOrderRecord(**values)


__all__ = ["OrderQueueRepository", "QueueStatus", "QueuedOrderRecord"]
