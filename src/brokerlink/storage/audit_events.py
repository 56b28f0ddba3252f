"""AuditRepository: the append-only audit event table and its head checkpoint.

Appends are serialised across processes: SQLite takes the write lock up front
(``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-level advisory lock. The
event and the checkpoint row are written in the same transaction, so the stored
checkpoint always names the head unless someone edited the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import RowMapping, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from brokerlink.audit.store import (
    GENESIS_HASH,
    AppendBuilder,
    AuditEventRecord,
    CheckpointRecord,
)
from brokerlink.storage.engine import Database
from brokerlink.storage.tables import audit_checkpoints, audit_events

__all__ = ["GENESIS_HASH", "AppendBuilder", "AuditRepository", "AuditSnapshot"]

_CHECKPOINT_ROW_ID = 1
_APPEND_LOCK_KEY = 0x62726B6C61756474

class AuditRepository:
    """Raw access to ``audit_events`` and ``audit_checkpoints``; no hashing here.

    The audit log's ``AuditEventStore``.
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    def __repr__(self) -> str:
        return f"AuditRepository(dialect={self.dialect!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.dialect

    async def append(self, build: AppendBuilder) -> AuditEventRecord:
        """Insert the event ``build`` makes from the current head, under the chain lock."""
        [event] = await self.append_many([build])
        return event

    async def append_many(self, builds: Sequence[AppendBuilder]) -> list[AuditEventRecord]:
        """Insert one event per builder, in order, each chained on the one before, and
        move the checkpoint once: one transaction under the chain lock (group commit).
        If any builder raises, nothing is written."""
        if not builds:
            return []
        async with self._db.transaction(write_lock=True) as conn:
            if not self._db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _APPEND_LOCK_KEY})
            head = (await conn.execute(
                select(audit_events.c.seq, audit_events.c.hash)
                .order_by(audit_events.c.seq.desc()).limit(1))).first()
            stored = await self._checkpoint(conn)
            checkpoint = stored
            head_seq, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
            events: list[AuditEventRecord] = []
            for build in builds:
                event, checkpoint = build(head_seq, head_hash, checkpoint)
                events.append(event)
                head_seq, head_hash = event.seq, event.hash
            assert checkpoint is not None  # noqa: S101  (at least one build ran)
            await conn.execute(insert(audit_events), [_event_row(e) for e in events])
            values = {"seq": checkpoint.seq, "hash": checkpoint.hash,
                      "mac": checkpoint.mac, "updated_at": checkpoint.updated_at}
            if stored is None:
                await conn.execute(insert(audit_checkpoints).values(id=_CHECKPOINT_ROW_ID,
                                                                     **values))
            else:
                await conn.execute(update(audit_checkpoints)
                                   .where(audit_checkpoints.c.id == _CHECKPOINT_ROW_ID)
                                   .values(**values))
        return events

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AuditSnapshot]:
        """A consistent read view of events and checkpoint (for verification).

        One read transaction: REPEATABLE READ on PostgreSQL, a WAL read snapshot on
        SQLite, so appends committed meanwhile by other processes are not half-seen.
        """
        engine = self._db.engine
        if not self._db.is_sqlite:
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        async with engine.begin() as conn:
            yield AuditSnapshot(conn)

    async def checkpoint(self) -> CheckpointRecord | None:
        """The stored checkpoint, or ``None`` before the first append."""
        async with self._db.transaction() as conn:
            return await self._checkpoint(conn)

    async def page(self, after_seq: int, limit: int) -> list[AuditEventRecord]:
        """Up to ``limit`` events with ``seq > after_seq``, in seq order."""
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(audit_events).where(audit_events.c.seq > after_seq)
                .order_by(audit_events.c.seq).limit(limit))).mappings().all()
        return [_event_from_row(row) for row in rows]

    async def recent(self, limit: int) -> list[AuditEventRecord]:
        """The last ``limit`` events, oldest first."""
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
            )).mappings().all()
        return [_event_from_row(row) for row in reversed(rows)]

    async def _checkpoint(self, conn: AsyncConnection) -> CheckpointRecord | None:
        return await _read_checkpoint(conn)


class AuditSnapshot:
    """Reads inside one snapshot; see ``AuditRepository.snapshot``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def checkpoint(self) -> CheckpointRecord | None:
        """The checkpoint as of the snapshot."""
        return await _read_checkpoint(self._conn)

    async def page(self, after_seq: int, limit: int) -> list[AuditEventRecord]:
        """Up to ``limit`` events with ``seq > after_seq`` as of the snapshot."""
        rows = (await self._conn.execute(
            select(audit_events).where(audit_events.c.seq > after_seq)
            .order_by(audit_events.c.seq).limit(limit))).mappings().all()
        return [_event_from_row(row) for row in rows]


async def _read_checkpoint(conn: AsyncConnection) -> CheckpointRecord | None:
    row = (await conn.execute(select(audit_checkpoints).where(
        audit_checkpoints.c.id == _CHECKPOINT_ROW_ID))).mappings().first()
    if row is None:
        return None
    return CheckpointRecord(seq=int(row["seq"]), hash=row["hash"], mac=row["mac"],
                            updated_at=row["updated_at"])


def _event_row(event: AuditEventRecord) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "connection_id": event.connection_id,
        "broker": event.broker,
        "action": event.action,
        "detail": event.detail,
        "outcome": event.outcome,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _event_from_row(row: RowMapping) -> AuditEventRecord:
    return AuditEventRecord(
        seq=int(row["seq"]),
        at=row["at"],
        actor=row["actor"],
        connection_id=row["connection_id"],
        broker=row["broker"],
        action=row["action"],
        detail=row["detail"],
        outcome=row["outcome"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
