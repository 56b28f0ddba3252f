"""VaultKeyRepository: the registry of key-encryption keys (never the keys themselves).

Exactly one KEK is ``active`` (new secrets are wrapped under it). During a rotation
the previous ones are ``retiring`` until no sealed row names them, then ``retired``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from brokerlink.auth.keys import KekUnavailableError
from brokerlink.auth.vault_store import KekRecord, KekState, StaleKekError
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.tables import vault_keys

__all__ = ["StaleKekError", "StaleKekStorageError", "VaultKeyRepository", "ensure_active_keks"]

_REGISTRY_LOCK_KEY = 0x62726B6C6B656B73


class VaultKeyRepository:
    """Persistence of ``KekRecord``s; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def all(self) -> list[KekRecord]:
        """Every KEK ever registered, oldest (lowest version) first."""
        async with self._db.transaction() as conn:
            rows = (await conn.execute(
                select(vault_keys).order_by(vault_keys.c.version))).mappings().all()
        return [_from_row(row) for row in rows]

    async def next_version(self) -> int:
        """One more than the highest version registered (1 for an empty vault)."""
        async with self._db.transaction() as conn:
            highest = (await conn.execute(select(func.max(vault_keys.c.version)))).scalar()
        return int(highest or 0) + 1

    async def activate(self, record: KekRecord) -> bool:
        """Register ``record`` as the active KEK, demoting any active one to retiring.

        One transaction, under the write lock: either the new KEK is active and the
        old one retiring, or nothing changed. Returns ``False`` (and changes nothing)
        if another process registered a KEK with the same version first.
        """
        try:
            async with self._db.transaction(write_lock=True) as conn:
                if not self._db.is_sqlite:
                    # Serialise registrations: row locks cannot guard an empty table.
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                       {"key": _REGISTRY_LOCK_KEY})
                newer = (await conn.execute(select(vault_keys.c.kek_id).where(
                    vault_keys.c.version >= record.version))).first()
                if newer is not None:
                    return False
                await conn.execute(
                    update(vault_keys).where(vault_keys.c.state == KekState.ACTIVE.value)
                    .values(state=KekState.RETIRING.value))
                await conn.execute(insert(vault_keys).values(**_to_row(record)))
        except IntegrityError:
            return False
        return True

    async def retire(self, kek_ids: list[str]) -> None:
        """Mark retiring KEKs retired: no sealed row names them any more."""
        if not kek_ids:
            return
        async with self._db.transaction(write_lock=True) as conn:
            await conn.execute(
                update(vault_keys)
                .where(vault_keys.c.kek_id.in_(kek_ids),
                       vault_keys.c.state == KekState.RETIRING.value)
                .values(state=KekState.RETIRED.value, retired_at=utc_now()))

    async def mark_destroyed(self, kek_id: str) -> None:
        """Record that the provider deleted a retired KEK's material."""
        async with self._db.transaction() as conn:
            await conn.execute(update(vault_keys).where(vault_keys.c.kek_id == kek_id)
                               .values(destroyed_at=utc_now()))


class StaleKekStorageError(StorageError, StaleKekError):
    """``StaleKekError`` as the database raises it: the vault catches it as the former
    (reload, seal again), and a caller of the repositories as the latter."""


async def ensure_active_keks(conn: AsyncConnection, database: Database,
                             kek_ids: Collection[str]) -> None:
    """Inside a writer's transaction: refuse unless every one of ``kek_ids`` is active.

    On PostgreSQL the registry rows are read ``FOR SHARE``, so a rotation cannot
    demote or retire the KEK until this writer commits, and its sweep then sees the
    new row; on SQLite the writer already holds the database write lock. Raises
    ``StaleKekError``: the caller reloads its keys and seals again.
    """
    wanted = set(kek_ids)
    if not wanted:
        return
    query = select(vault_keys.c.kek_id, vault_keys.c.state).where(
        vault_keys.c.kek_id.in_(sorted(wanted)))
    if not database.is_sqlite:
        query = query.with_for_update(read=True)
    states = {row.kek_id: row.state for row in (await conn.execute(query)).all()}
    stale = sorted(k for k in wanted if states.get(k) != KekState.ACTIVE.value)
    if stale:
        raise StaleKekStorageError(
            f"vault key {stale[0]} is no longer the active key (a rotation started); "
            "reload the vault and seal again")


def _to_row(record: KekRecord) -> dict[str, Any]:
    return {
        "kek_id": record.kek_id,
        "version": record.version,
        "provider": record.provider,
        "provider_ref": record.provider_ref,
        "salt": record.salt,
        "check_value": record.check_value,
        "state": KekState(record.state).value,
        "created_at": record.created_at,
        "retired_at": record.retired_at,
        "destroyed_at": record.destroyed_at,
    }


def _from_row(row: RowMapping) -> KekRecord:
    """A registry row as a ``KekRecord``. Raises ``KekUnavailableError`` naming the key and
    the column when a column holds what no brokerlink ever wrote (text where bytes belong,
    NULL, an unknown state): a damaged row must be a typed vault error, never a TypeError."""
    kek_id = row["kek_id"]
    shown = kek_id if isinstance(kek_id, str) and kek_id.isprintable() else "(unreadable id)"
    salt = row["salt"]
    check_value = row["check_value"]
    problem: str | None = None
    if not isinstance(kek_id, str) or not kek_id:
        problem = "its kek_id is not text"
    elif not isinstance(row["version"], int) or isinstance(row["version"], bool):
        problem = "its version is not a number"
    elif not isinstance(row["provider"], str):
        problem = "its provider is not text"
    elif row["provider_ref"] is not None and not isinstance(row["provider_ref"], str):
        problem = "its provider_ref is not text"
    elif salt is not None and not isinstance(salt, bytes | bytearray | memoryview):
        problem = "its salt is not bytes"
    elif not isinstance(check_value, bytes | bytearray | memoryview):
        problem = "its check_value is not bytes"
    elif row["state"] not in {state.value for state in KekState}:
        problem = "its state is not one a vault writes"
    if problem is not None:
        raise KekUnavailableError(
            f"vault key {shown[:64]} is damaged in the database: {problem}. The vault_keys "
            "table was changed outside brokerlink; restore it from a backup")
    return KekRecord(
        kek_id=kek_id,
        version=row["version"],
        provider=row["provider"],
        provider_ref=row["provider_ref"],
        salt=bytes(salt) if salt is not None else None,
        check_value=bytes(check_value),
        state=KekState(row["state"]),
        created_at=row["created_at"],
        retired_at=row["retired_at"],
        destroyed_at=row["destroyed_at"],
    )
