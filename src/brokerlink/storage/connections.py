"""ConnectionRepository: the stored broker connections and their refresh bookkeeping."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.records import (
    ConnectionRecord,
    ConnectionStatus,
    check_base_url,
    check_label,
)
from brokerlink.storage.tables import connections, credentials, paper_accounts


class ConnectionNotFoundError(StorageError):
    """No stored connection has this id."""


class ConnectionRepository:
    """CRUD for ``connections``; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, record: ConnectionRecord) -> ConnectionRecord:
        """Insert ``record``. Raises ``StorageError`` if the id already exists and
        ``InvalidNameError`` for a label or base URL out of bounds (nothing stored)."""
        check_label(record.label)
        check_base_url(record.base_url)
        values = _to_row(record)
        try:
            async with self._db.transaction() as conn:
                await conn.execute(insert(connections).values(**values))
        except IntegrityError as exc:
            raise StorageError(f"a connection with id {record.id!r} already exists",
                               connection_id=record.id) from exc
        return record

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        """The connection with this id, or ``None``."""
        async with self._db.transaction() as conn:
            row = (await conn.execute(
                select(connections).where(connections.c.id == connection_id))).mappings().first()
        return _from_row(row) if row else None

    async def list(self) -> list[ConnectionRecord]:
        """Every connection, oldest first."""
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(connections).order_by(connections.c.created_at, connections.c.id)
            )).mappings().all()
        return [_from_row(row) for row in rows]

    async def update(
        self,
        connection_id: str,
        *,
        status: ConnectionStatus | None = None,
        label: str | None = None,
        account_ids: Sequence[str] | None = None,
        base_url: str | None = None,
        access_token_expires_at: datetime | None = None,
        reauth_due_at: datetime | None = None,
    ) -> ConnectionRecord:
        """Change the given fields (``None`` leaves a field as it is) and bump ``updated_at``.

        Raises ``ConnectionNotFoundError`` if there is no such connection and
        ``InvalidNameError`` for a label or base URL out of bounds (nothing changed).
        """
        values: dict[str, Any] = {"updated_at": utc_now()}
        label = check_label(label)
        base_url = check_base_url(base_url)
        if status is not None:
            values["status"] = ConnectionStatus(status).value
        if label is not None:
            values["label"] = label
        if account_ids is not None:
            values["account_ids"] = json.dumps(list(account_ids))
        if base_url is not None:
            values["base_url"] = base_url
        if access_token_expires_at is not None:
            values["access_token_expires_at"] = access_token_expires_at
        if reauth_due_at is not None:
            values["reauth_due_at"] = reauth_due_at
        return await self._update(connection_id, values)

    async def record_refresh(
        self,
        connection_id: str,
        *,
        success: bool,
        access_token_expires_at: datetime | None = None,
    ) -> ConnectionRecord:
        """Count one refresh attempt (and a success if ``success``), atomically.

        Raises ``ConnectionNotFoundError`` if there is no such connection.
        """
        now = utc_now()
        values: dict[str, Any] = {
            "updated_at": now,
            "last_refresh_at": now,
            # Incremented in SQL so concurrent refreshers never lose a count.
            "refresh_attempts": connections.c.refresh_attempts + 1,
        }
        if success:
            values["refresh_successes"] = connections.c.refresh_successes + 1
        if access_token_expires_at is not None:
            values["access_token_expires_at"] = access_token_expires_at
        return await self._update(connection_id, values)

    async def delete(self, connection_id: str) -> bool:
        """Remove the connection, all its sealed credentials and (for a paper
        connection) its stored account, in one transaction.

        Returns whether a connection was removed.
        """
        async with self._db.transaction() as conn:
            # The connection row first: its row lock makes a concurrent first save of a
            # paper account (which reads the row FOR SHARE) wait, so the account row
            # deleted below cannot appear behind this transaction's back.
            result = await conn.execute(
                delete(connections).where(connections.c.id == connection_id))
            await conn.execute(
                delete(credentials).where(credentials.c.connection_id == connection_id))
            await conn.execute(delete(paper_accounts).where(
                paper_accounts.c.connection_id == connection_id))
        return bool(result.rowcount)

    async def _update(self, connection_id: str, values: dict[str, Any]) -> ConnectionRecord:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(connections).where(connections.c.id == connection_id).values(**values))
            if not result.rowcount:
                raise ConnectionNotFoundError(
                    f"no stored connection {connection_id!r}; list them with "
                    "`brokerlink connections list`", connection_id=connection_id)
            row = (await conn.execute(
                select(connections).where(connections.c.id == connection_id))).mappings().one()
        return _from_row(row)


def _to_row(record: ConnectionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "broker": record.broker,
        "label": record.label,
        "status": ConnectionStatus(record.status).value,
        "account_ids": json.dumps(list(record.account_ids)),
        "base_url": record.base_url,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "access_token_expires_at": record.access_token_expires_at,
        "reauth_due_at": record.reauth_due_at,
        "last_refresh_at": record.last_refresh_at,
        "refresh_attempts": record.refresh_attempts,
        "refresh_successes": record.refresh_successes,
    }


def _from_row(row: RowMapping) -> ConnectionRecord:
    return ConnectionRecord(
        id=row["id"],
        broker=row["broker"],
        label=row["label"],
        status=ConnectionStatus(row["status"]),
        account_ids=tuple(json.loads(row["account_ids"])),
        base_url=row["base_url"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        access_token_expires_at=row["access_token_expires_at"],
        reauth_due_at=row["reauth_due_at"],
        last_refresh_at=row["last_refresh_at"],
        refresh_attempts=row["refresh_attempts"],
        refresh_successes=row["refresh_successes"],
    )
