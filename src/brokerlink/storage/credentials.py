"""CredentialRepository: sealed credential fields, one row per (connection id, field).

Only ciphertext, nonces and wrapped data keys are stored; sealing and opening
happen in ``brokerlink.auth.vault``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import RowMapping, and_, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert

from brokerlink.storage.engine import Database
from brokerlink.storage.records import CredentialRecord
from brokerlink.storage.sealed import sealed_from_columns
from brokerlink.storage.tables import credentials
from brokerlink.storage.vault_keys import ensure_active_keks


class CredentialRepository:
    """Persistence of ``CredentialRecord``s; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def put(self, record: CredentialRecord, *, require_active_kek: bool = True) -> None:
        """Insert or replace the sealed value of (connection id, field); see ``put_many``."""
        await self.put_many([record], require_active_kek=require_active_kek)

    async def put_many(self, records: Iterable[CredentialRecord], *,
                       require_active_kek: bool = True) -> None:
        """Insert or replace several sealed values in a single transaction.

        With ``require_active_kek`` (the default) every record must be wrapped by the
        currently active KEK, checked in the same transaction, so a rotation can never
        miss a row written while it runs. Raises ``StaleKekError`` otherwise.
        """
        batch = list(records)
        async with self._db.transaction(write_lock=True) as conn:
            if require_active_kek:
                await ensure_active_keks(conn, self._db, {r.sealed.kek_id for r in batch})
            for record in batch:
                await conn.execute(_upsert(self._db, _to_row(record)))

    async def insert_if_absent(self, record: CredentialRecord) -> bool:
        """Insert ``record`` unless the (connection id, field) exists; returns whether it did.

        Lets two processes race to create a system secret: exactly one wins, the
        other reads the winner's value. Raises ``StaleKekError`` as ``put_many`` does.
        """
        try:
            async with self._db.transaction(write_lock=True) as conn:
                await ensure_active_keks(conn, self._db, {record.sealed.kek_id})
                await conn.execute(insert(credentials).values(**_to_row(record)))
        except IntegrityError:
            return False
        return True

    async def get(self, connection_id: str, field: str) -> CredentialRecord | None:
        """The sealed value of (connection id, field), or ``None``."""
        async with self._db.transaction() as conn:
            row = (await conn.execute(
                select(credentials).where(_key(connection_id, field)))).mappings().first()
        return _from_row(row) if row else None

    async def fields(self, connection_id: str) -> list[str]:
        """The field names stored for a connection, sorted."""
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(credentials.c.field).where(credentials.c.connection_id == connection_id)
                .order_by(credentials.c.field))).scalars().all()
        return list(rows)

    async def delete(self, connection_id: str, field: str) -> bool:
        """Remove one field; returns whether it existed."""
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(credentials).where(_key(connection_id, field)))
        return bool(result.rowcount)

    async def delete_connection(self, connection_id: str) -> int:
        """Remove every field of a connection; returns how many rows went."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                delete(credentials).where(credentials.c.connection_id == connection_id))
        return int(result.rowcount)


def _upsert(database: Database, values: dict[str, Any]) -> Insert:
    # Native upsert on both backends: concurrent writers of one field cannot collide.
    dialect_insert = sqlite.insert if database.is_sqlite else postgresql.insert
    statement = dialect_insert(credentials).values(**values)
    replaced = {name: statement.excluded[name] for name in values
                if name not in ("connection_id", "field", "created_at")}
    return statement.on_conflict_do_update(
        index_elements=[credentials.c.connection_id, credentials.c.field], set_=replaced)


def _key(connection_id: str, field: str) -> Any:
    return and_(credentials.c.connection_id == connection_id, credentials.c.field == field)


def _to_row(record: CredentialRecord) -> dict[str, Any]:
    return {
        "connection_id": record.connection_id,
        "field": record.field,
        "ciphertext": record.sealed.ciphertext,
        "nonce": record.sealed.nonce,
        "wrapped_key": record.sealed.wrapped_key,
        "kek_id": record.sealed.kek_id,
        "kek_version": record.sealed.kek_version,
        "created_at": record.created_at,
        "rotated_at": record.rotated_at,
    }


def _from_row(row: RowMapping) -> CredentialRecord:
    return CredentialRecord(
        connection_id=row["connection_id"],
        field=row["field"],
        sealed=sealed_from_columns(row["ciphertext"], row["nonce"], row["wrapped_key"],
                                   row["kek_id"], row["kek_version"]),
        created_at=row["created_at"],
        rotated_at=row["rotated_at"],
    )
