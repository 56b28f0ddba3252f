"""AuditRepository: the append-only audit event table and its head checkpoint.

Appends are serialised across processes: SQLite takes the write lock up front
(``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-level advisory lock. The
event and the checkpoint row are written in the same transaction, so the stored
checkpoint always names the head unless someone edited the database.

Reads never trust a row: they fetch raw column values (bypassing the column types,
whose conversions raise on damage) and ``audit.rows`` turns each row into a record or
a ``DamagedRecord``. On SQLite, where any column can hold any type and text need not
be UTF-8, each value comes with its ``typeof`` and text as its bytes, decoded here.
A database that cannot be read at all is a ``StorageError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from brokerlink.audit.rows import UndecodableText, checkpoint_from_values, event_from_values
from brokerlink.audit.store import (
    GENESIS_HASH,
    AppendBuilder,
    AuditEventRecord,
    CheckpointRecord,
    DamagedRecord,
    StoredCheckpoint,
    StoredEvent,
)
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.tables import audit_checkpoints, audit_events

__all__ = ["GENESIS_HASH", "AppendBuilder", "AuditRepository", "AuditSnapshot"]

_CHECKPOINT_ROW_ID = 1
_APPEND_LOCK_KEY = 0x62726B6C61756474
_EVENT_COLUMNS = ("seq", "at", "actor", "connection_id", "broker", "action", "detail",
                  "outcome", "prev_hash", "hash")
_CHECKPOINT_COLUMNS = ("seq", "hash", "mac", "updated_at")


class _RawReader:
    """Raw, type-checked-later reads of the audit tables for one dialect."""

    def __init__(self, is_sqlite: bool) -> None:
        self._sqlite = is_sqlite
        # Column names are constants above, never input: the SQL is fixed per dialect.
        self._numbered = "typeof(seq) = 'integer'" if is_sqlite else "seq IS NOT NULL"
        self._unnumbered = "typeof(seq) <> 'integer'" if is_sqlite else "seq IS NULL"
        events = self._select(_EVENT_COLUMNS)
        numbered = f"SELECT {events} FROM audit_events WHERE {self._numbered}"  # noqa: S608
        self._page_sql = f"{numbered} AND seq > :after ORDER BY seq LIMIT :limit"
        self._recent_sql = f"{numbered} ORDER BY seq DESC LIMIT :limit"
        self._unnumbered_sql = (f"SELECT {events} FROM audit_events "  # noqa: S608
                                f"WHERE {self._unnumbered} LIMIT :limit")
        self._head_sql = (f"SELECT {self._select(('seq', 'hash'))} "  # noqa: S608
                          f"FROM audit_events WHERE {self._numbered} "
                          "ORDER BY seq DESC LIMIT 1")
        self._checkpoint_sql = (f"SELECT {self._select(_CHECKPOINT_COLUMNS)} "  # noqa: S608
                                "FROM audit_checkpoints WHERE id = :id")

    def _select(self, columns: Sequence[str]) -> str:
        if not self._sqlite:
            return ", ".join(columns)
        # Text comes back as its bytes (decoded below, so non-UTF-8 is reportable),
        # every other storage class as itself, with its typeof alongside.
        return ", ".join(f"CASE WHEN typeof({c}) = 'text' THEN CAST({c} AS BLOB) ELSE {c} "
                         f"END AS {c}, typeof({c}) AS {c}__type" for c in columns)

    def _values(self, row: Any, columns: Sequence[str]) -> dict[str, object]:
        mapping = row._mapping
        values: dict[str, object] = {}
        for column in columns:
            value = mapping[column]
            if self._sqlite and mapping[f"{column}__type"] == "text" and isinstance(
                    value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    value = UndecodableText(len(value))
            values[column] = value
        return values

    async def _fetch(self, conn: AsyncConnection, sql: str,
                     params: dict[str, object]) -> Sequence[Any]:
        try:
            return (await conn.execute(text(sql), params)).all()
        except SQLAlchemyError as exc:
            # Not row damage (that is reported per row) but a table that cannot be read:
            # dropped, or its columns retyped so the query itself fails.
            cause = type(getattr(exc, "orig", None) or exc).__name__
            raise StorageError(f"the audit table could not be read ({cause}): it is "
                               "missing or its structure was changed") from exc

    async def page(self, conn: AsyncConnection, after_seq: int,
                   limit: int) -> list[StoredEvent]:
        rows = await self._fetch(conn, self._page_sql, {"after": after_seq, "limit": limit})
        return [event_from_values(self._values(row, _EVENT_COLUMNS)) for row in rows]

    async def recent(self, conn: AsyncConnection, limit: int) -> list[StoredEvent]:
        rows = await self._fetch(conn, self._recent_sql, {"limit": limit})
        return [event_from_values(self._values(row, _EVENT_COLUMNS))
                for row in reversed(rows)]

    async def unnumbered(self, conn: AsyncConnection, limit: int) -> list[DamagedRecord]:
        rows = await self._fetch(conn, self._unnumbered_sql, {"limit": limit})
        found: list[DamagedRecord] = []
        for row in rows:
            parsed = event_from_values(self._values(row, _EVENT_COLUMNS))
            found.append(parsed if isinstance(parsed, DamagedRecord)
                         else DamagedRecord(None, "it has no sequence number"))
        return found

    async def head(self, conn: AsyncConnection) -> tuple[int, str] | None:
        rows = await self._fetch(conn, self._head_sql, {})
        if not rows:
            return None
        values = self._values(rows[0], ("seq", "hash"))
        seq, digest = values["seq"], values["hash"]
        # A damaged head hash cannot match the checkpoint, so the append is refused.
        return int(seq) if isinstance(seq, int) else 0, digest if isinstance(
            digest, str) else ""

    async def has_events(self, conn: AsyncConnection) -> bool:
        return bool(await self._fetch(conn, "SELECT 1 FROM audit_events LIMIT 1", {}))

    async def checkpoint(self, conn: AsyncConnection) -> StoredCheckpoint | None:
        rows = await self._fetch(conn, self._checkpoint_sql, {"id": _CHECKPOINT_ROW_ID})
        if not rows:
            return None
        return checkpoint_from_values(self._values(rows[0], _CHECKPOINT_COLUMNS))


class AuditRepository:
    """Raw access to ``audit_events`` and ``audit_checkpoints``; no hashing here.

    The audit log's ``AuditEventStore``.
    """

    def __init__(self, database: Database) -> None:
        self._db = database
        self._raw = _RawReader(database.is_sqlite)

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
        If any builder raises, nothing is written. Raises ``StorageError`` if the
        tables cannot be read."""
        if not builds:
            return []
        async with self._db.transaction(write_lock=True) as conn:
            if not self._db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _APPEND_LOCK_KEY})
            head = await self._raw.head(conn)
            stored = await self._raw.checkpoint(conn)
            checkpoint: StoredCheckpoint | None = stored
            head_seq, head_hash = head if head else (0, GENESIS_HASH)
            events: list[AuditEventRecord] = []
            for build in builds:
                event, checkpoint = build(head_seq, head_hash, checkpoint)
                events.append(event)
                head_seq, head_hash = event.seq, event.hash
            assert isinstance(checkpoint, CheckpointRecord)  # noqa: S101  (a build ran)
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
            yield AuditSnapshot(conn, self._raw)

    async def checkpoint(self) -> StoredCheckpoint | None:
        """The stored checkpoint, or ``None`` before the first append."""
        async with self._db.transaction() as conn:
            return await self._raw.checkpoint(conn)

    async def has_events(self) -> bool:
        """Whether any event row exists, damaged or not."""
        async with self._db.transaction() as conn:
            return await self._raw.has_events(conn)

    async def page(self, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` rows with ``seq > after_seq``, in seq order."""
        async with self._db.transaction() as conn:
            return await self._raw.page(conn, after_seq, limit)

    async def recent(self, limit: int) -> list[StoredEvent]:
        """The last ``limit`` numbered rows, oldest first, well-formed or damaged."""
        async with self._db.transaction() as conn:
            return await self._raw.recent(conn, limit)


class AuditSnapshot:
    """Reads inside one snapshot; see ``AuditRepository.snapshot``."""

    def __init__(self, conn: AsyncConnection, raw: _RawReader) -> None:
        self._conn = conn
        self._raw = raw

    async def checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint as of the snapshot."""
        return await self._raw.checkpoint(self._conn)

    async def page(self, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` rows with an integer ``seq > after_seq`` as of the snapshot."""
        return await self._raw.page(self._conn, after_seq, limit)

    async def unnumbered(self, limit: int) -> list[DamagedRecord]:
        """Up to ``limit`` rows without an integer sequence number."""
        return await self._raw.unnumbered(self._conn, limit)


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
