"""JournalRepository: the order journal's rows (``order_intents``), on SQLite and PostgreSQL.

Every method is one transaction. Status changes are compare-and-set on the current
status (``transition``), so two writers can never both move the same intent: the loser
sees ``False`` and re-reads. The state machine itself lives in ``core.lifecycle`` and is
applied by ``manager.journal``; this module only stores what it decided.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from brokerlink.core.enums import OrderStatus
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.tables import order_intents as intents

_WRITERS: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def write_transaction(database: Database) -> AsyncIterator[AsyncConnection]:
    """A write-locked transaction; on SQLite, writers in this process also queue here.

    SQLite lets one writer in at a time; without this queue, concurrent tasks each hold
    a pooled connection and spin in SQLite's busy handler (which sleeps in growing
    steps), making a burst of orders many times slower. Other processes are still kept
    out by ``BEGIN IMMEDIATE``. PostgreSQL needs no queue: rows are compare-and-set.
    """
    if not database.is_sqlite:
        async with database.transaction(write_lock=True) as conn:
            yield conn
        return
    lock = _WRITERS.setdefault(database, asyncio.Lock())
    async with lock, database.transaction(write_lock=True) as conn:
        yield conn


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """One order intent as stored. ``request_json``/``result_json`` are canonical JSON."""

    id: str
    connection_id: str
    account_id: str
    client_order_id: str
    fingerprint: str
    request_json: str
    symbol: str
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    broker_order_id: str | None = None
    result_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    not_sent: bool = False
    resolution: str | None = None
    attempts: int = 0
    sent_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def in_flight(self) -> bool:
        """Written but not settled: the broker's answer is still owed (or was lost)."""
        return self.status in (OrderStatus.PENDING_NEW, OrderStatus.UNKNOWN)


class IntentConflictError(StorageError):
    """An intent with this client order id or idempotency key already exists."""

    def __init__(self, message: str, existing: IntentRecord | None) -> None:
        super().__init__(message)
        self.existing = existing


_COLUMNS = tuple(f.name for f in fields(IntentRecord))


class JournalRepository:
    """Persistence of ``IntentRecord``s; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def insert(self, record: IntentRecord) -> IntentRecord:
        """Store a new intent, or raise ``IntentConflictError`` carrying the existing one.

        The unique constraints (both backends) decide, so two writers with one key or
        one client order id cannot both insert, in one process or several.
        """
        try:
            # Insert first and read only on a conflict: the common path is one statement.
            async with write_transaction(self._db) as conn:
                await conn.execute(insert(intents).values(**_to_row(record)))
            return record
        except IntegrityError as exc:
            async with self._db.transaction() as conn:
                existing = await self._conflicting(conn, record)
            raise IntentConflictError(
                f"an order intent with client order id {record.client_order_id!r} or this "
                "idempotency key already exists on the connection", existing) from exc

    async def _conflicting(self, conn: Any, record: IntentRecord) -> IntentRecord | None:
        if record.idempotency_key is not None:
            row = (await conn.execute(select(intents).where(and_(
                intents.c.connection_id == record.connection_id,
                intents.c.idempotency_key == record.idempotency_key)))).mappings().first()
            if row is not None:
                return _from_row(row)
        row = (await conn.execute(select(intents).where(and_(
            intents.c.connection_id == record.connection_id,
            intents.c.client_order_id == record.client_order_id)))).mappings().first()
        return _from_row(row) if row is not None else None

    async def get(self, intent_id: str) -> IntentRecord | None:
        """The intent with ``intent_id``, or ``None``."""
        return await self._one(intents.c.id == intent_id)

    async def by_key(self, connection_id: str, idempotency_key: str) -> IntentRecord | None:
        """The intent stored under an idempotency key on a connection, or ``None``."""
        return await self._one(and_(intents.c.connection_id == connection_id,
                                    intents.c.idempotency_key == idempotency_key))

    async def by_client_order_id(self, connection_id: str,
                                 client_order_id: str) -> IntentRecord | None:
        """The intent with a client order id on a connection, or ``None``."""
        return await self._one(and_(intents.c.connection_id == connection_id,
                                    intents.c.client_order_id == client_order_id))

    async def by_broker_order_id(self, account_id: str,
                                 broker_order_id: str) -> IntentRecord | None:
        """The intent a broker order id was matched to in an account, or ``None``."""
        return await self._one(and_(intents.c.account_id == account_id,
                                    intents.c.broker_order_id == broker_order_id))

    async def by_account_client_order_id(self, account_id: str,
                                         client_order_id: str) -> IntentRecord | None:
        """The intent with a client order id in an account (any connection), or ``None``."""
        return await self._one(and_(intents.c.account_id == account_id,
                                    intents.c.client_order_id == client_order_id))

    async def _one(self, condition: Any) -> IntentRecord | None:
        async with self._db.transaction() as conn:
            row = (await conn.execute(select(intents).where(condition))).mappings().first()
        return _from_row(row) if row is not None else None

    async def list(self, *, statuses: Iterable[OrderStatus] | None = None,
                   connection_id: str | None = None,
                   account_id: str | None = None) -> list[IntentRecord]:
        """Intents, oldest first, filtered by status, connection and account when given."""
        query = select(intents)
        if statuses is not None:
            query = query.where(intents.c.status.in_([s.value for s in statuses]))
        if connection_id is not None:
            query = query.where(intents.c.connection_id == connection_id)
        if account_id is not None:
            query = query.where(intents.c.account_id == account_id)
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                query.order_by(intents.c.created_at, intents.c.id))).mappings().all()
        return [_from_row(row) for row in rows]

    async def transition(self, record: IntentRecord, **changes: Any) -> IntentRecord | None:
        """Write ``changes`` if the stored status and reply are still ``record``'s.

        The reply is part of the check because submit may store it without a status
        change (an order still pending): an update decided on the older record must
        not replace it.

        Returns the updated record, or ``None`` when another writer moved it first (the
        caller re-reads and decides again). ``changes`` are ``IntentRecord`` fields.
        """
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"not intent fields: {sorted(unknown)}")
        updated = replace(record, **changes)
        values = {k: v for k, v in _to_row(updated).items() if k in changes}
        async with write_transaction(self._db) as conn:
            result = await conn.execute(
                update(intents)
                .where(and_(intents.c.id == record.id,
                            intents.c.status == record.status.value,
                            intents.c.result_json.is_(None) if record.result_json is None
                            else intents.c.result_json == record.result_json))
                .values(**values))
        return updated if result.rowcount else None


def _to_row(record: IntentRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _COLUMNS}
    row["status"] = record.status.value
    return row


def _from_row(row: RowMapping) -> IntentRecord:
    values = {name: row[name] for name in _COLUMNS}
    values["status"] = OrderStatus(row["status"])
    values["not_sent"] = bool(row["not_sent"])
    return IntentRecord(**values)


__all__ = ["IntentConflictError", "IntentRecord", "JournalRepository"]
