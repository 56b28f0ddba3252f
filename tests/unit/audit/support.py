"""Helpers for the audit tests: building a log and editing its rows like an attacker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from brokerlink.audit.log import AuditLog
from brokerlink.storage.engine import Database
from brokerlink.storage.tables import audit_checkpoints, audit_events


async def fill(log: AuditLog, count: int) -> None:
    """Append ``count`` plausible events."""
    actions = ("connection.connect", "request.place_order", "connection.refresh")
    for index in range(count):
        await log.append(actions[index % len(actions)], actor="service", outcome="ok",
                         connection_id="c1", broker="paper",
                         detail={"n": index, "symbol": "AAPL"})


async def row(database: Database, seq: int) -> dict[str, Any]:
    """The raw audit row with this seq."""
    async with database.transaction() as conn:
        found = (await conn.execute(
            select(audit_events).where(audit_events.c.seq == seq))).mappings().one()
    return dict(found)


async def set_fields(database: Database, at_seq: int, **values: Any) -> None:
    """UPDATE the audit row with seq ``at_seq`` in place."""
    async with database.transaction() as conn:
        await conn.execute(
            update(audit_events).where(audit_events.c.seq == at_seq).values(**values))


async def delete_seqs(database: Database, *seqs: int) -> None:
    """DELETE audit rows."""
    async with database.transaction() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.seq.in_(seqs)))


async def shift_from(database: Database, start: int, last: int) -> None:
    """Renumber events ``start..last`` one up, highest first (seq is the primary key)."""
    for seq in range(last, start - 1, -1):
        await set_fields(database, seq, seq=seq + 1)


async def insert_row(database: Database, values: dict[str, Any]) -> None:
    """INSERT a raw audit row."""
    async with database.transaction() as conn:
        await conn.execute(insert(audit_events).values(**values))


async def checkpoint_row(database: Database) -> dict[str, Any]:
    """The raw checkpoint row."""
    async with database.transaction() as conn:
        return dict((await conn.execute(select(audit_checkpoints))).mappings().one())


async def set_checkpoint(database: Database, **values: Any) -> None:
    """UPDATE the checkpoint row."""
    async with database.transaction() as conn:
        await conn.execute(update(audit_checkpoints).values(**values))
