"""Sealed-row stores: the tables holding vault ciphertext, seen uniformly for key rotation.

Each sealed row is opened with an associated-data identity ``(connection_id, field)``;
for credentials that is the row's own key, for OAuth pending states it is
``("oauth-state:<state hash>", "code_verifier")``. Rotation re-wraps a row's data key
in its own short transaction, compare-and-set on the KEK id, so a crash at any
point leaves every row openable under the KEK it names.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Table, and_, func, select, update

from brokerlink.auth.vault import DamagedColumn
from brokerlink.auth.vault_store import (
    PENDING_STATE_AD_PREFIX,
    PENDING_STATE_FIELD,
    Rewrap,
    SealedLocation,
    SealedSecret,
)
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database
from brokerlink.storage.tables import credentials, oauth_pending_states

__all__ = [
    "PENDING_STATE_AD_PREFIX",
    "PENDING_STATE_FIELD",
    "Rewrap",
    "SealedLocation",
    "SealedRowStore",
    "column_bytes",
    "sealed_from_columns",
    "sealed_stores",
]


def column_bytes(value: object) -> bytes:
    """A sealed column's value as ``bytes``; anything else a tampered row may hold (text,
    NULL, a number) becomes a ``DamagedColumn`` that ``Vault.open`` refuses with a typed
    error naming the row, where ``bytes(value)`` would raise an untyped ``TypeError``
    (or, for a number, make zero bytes)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return DamagedColumn("NULL" if value is None else "text" if isinstance(value, str)
                         else type(value).__name__)


def sealed_from_columns(ciphertext: object, nonce: object, wrapped_key: object,
                        kek_id: object, kek_version: object) -> SealedSecret:
    """A ``SealedSecret`` from the columns of a row, as they came from the database,
    damaged ones marked (see ``column_bytes``); never raises."""
    return SealedSecret(ciphertext=column_bytes(ciphertext), nonce=column_bytes(nonce),
                        wrapped_key=column_bytes(wrapped_key),
                        kek_id=kek_id if isinstance(kek_id, str) else "",
                        kek_version=kek_version if isinstance(kek_version, int) else -1)


@dataclass(frozen=True, slots=True)
class _Spec:
    table: Table
    key_columns: tuple[str, ...]
    ciphertext: str
    nonce: str
    wrapped_key: str
    rotated_at: str | None

    def identity(self, key: tuple[str, ...]) -> tuple[str, str]:
        if self.table is credentials:
            return key[0], key[1]
        return f"{PENDING_STATE_AD_PREFIX}{key[0]}", PENDING_STATE_FIELD


_SPECS = (
    _Spec(credentials, ("connection_id", "field"), "ciphertext", "nonce", "wrapped_key",
          "rotated_at"),
    _Spec(oauth_pending_states, ("state_hash",), "verifier_ciphertext", "verifier_nonce",
          "verifier_wrapped_key", None),
)

class SealedRowStore:
    """One table of sealed rows, as rotation needs it (the vault's ``SealedTable``)."""

    def __init__(self, database: Database, spec: _Spec) -> None:
        self._db = database
        self._spec = spec

    @property
    def name(self) -> str:
        return self._spec.table.name

    async def count_by_kek(self) -> dict[str, int]:
        """How many rows each KEK id wraps."""
        table = self._spec.table
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(table.c.kek_id, func.count()).group_by(table.c.kek_id))).all()
        return {str(kek_id): int(count) for kek_id, count in rows}

    async def locations_under(self, kek_ids: Collection[str], limit: int) -> list[SealedLocation]:
        """Up to ``limit`` rows still wrapped by one of ``kek_ids``."""
        spec = self._spec
        if not kek_ids:
            return []
        key_cols = [spec.table.c[name] for name in spec.key_columns]
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(*key_cols).where(spec.table.c.kek_id.in_(list(kek_ids)))
                .order_by(*key_cols).limit(limit))).all()
        result = []
        for row in rows:
            key = tuple(str(part) for part in row)
            connection_id, field = spec.identity(key)
            result.append(SealedLocation(self.name, key, connection_id, field))
        return result

    async def rewrap(self, location: SealedLocation, from_kek_ids: Collection[str],
                     rewrap: Rewrap) -> bool:
        """Re-wrap one row's data key in its own transaction.

        The row is locked (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite)
        and updated only if it is still under one of ``from_kek_ids``; returns whether
        it was changed. Exceptions from ``rewrap`` propagate and roll back.
        """
        spec = self._spec
        table = spec.table
        where = and_(*(table.c[name] == value
                       for name, value in zip(spec.key_columns, location.key, strict=True)))
        async with self._db.transaction(write_lock=True) as conn:
            query = select(table.c[spec.ciphertext], table.c[spec.nonce],
                           table.c[spec.wrapped_key], table.c.kek_id, table.c.kek_version
                           ).where(where)
            if not self._db.is_sqlite:
                query = query.with_for_update()
            row = (await conn.execute(query)).first()
            if row is None or row.kek_id not in from_kek_ids:
                return False
            current = sealed_from_columns(row[0], row[1], row[2], row.kek_id,
                                          row.kek_version)
            moved = rewrap(current, location.connection_id, location.field)
            values: dict[str, object] = {
                spec.wrapped_key: moved.wrapped_key,
                "kek_id": moved.kek_id,
                "kek_version": moved.kek_version,
            }
            if spec.rotated_at is not None:
                values[spec.rotated_at] = utc_now()
            await conn.execute(
                update(table).where(and_(where, table.c.kek_id == row.kek_id)).values(values))
        return True


def sealed_stores(database: Database) -> list[SealedRowStore]:
    """Every table that holds vault ciphertext, for rotation and status."""
    return [SealedRowStore(database, spec) for spec in _SPECS]
