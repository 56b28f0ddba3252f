"""PendingStateRepository: OAuth authorizations in flight, single use, expiring.

The raw ``state`` is never stored, only its SHA-256 (``hash_state``): whoever reads
the table cannot replay a callback. The PKCE code verifier is stored sealed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from brokerlink.auth.vault_store import hash_state
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.records import PendingStateRecord
from brokerlink.storage.sealed import sealed_from_columns
from brokerlink.storage.tables import oauth_pending_states as pending
from brokerlink.storage.vault_keys import ensure_active_keks

__all__ = ["PendingStateRepository", "hash_state"]


class PendingStateRepository:
    """Persistence of ``PendingStateRecord``s; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, record: PendingStateRecord) -> None:
        """Store a new pending authorization.

        Raises ``StorageError`` on a duplicate state and ``StaleKekError`` if the
        verifier is not sealed under the active KEK (see ``ensure_active_keks``).
        """
        try:
            async with self._db.transaction(write_lock=True) as conn:
                await ensure_active_keks(conn, self._db, {record.code_verifier.kek_id})
                await conn.execute(insert(pending).values(**_to_row(record)))
        except IntegrityError as exc:
            raise StorageError("this OAuth state is already pending; generate a new one",
                               broker=record.broker) from exc

    async def get(self, state_hash: str) -> PendingStateRecord | None:
        """The record for ``state_hash`` whatever its status, or ``None``."""
        async with self._db.transaction() as conn:
            row = (await conn.execute(
                select(pending).where(pending.c.state_hash == state_hash))).mappings().first()
        return _from_row(row) if row else None

    async def consume(self, state_hash: str, now: datetime) -> PendingStateRecord | None:
        """Atomically mark the state consumed and return it, if unconsumed and unexpired.

        Returns ``None`` when it is unknown, already consumed or expired at ``now``:
        the caller must refuse the callback. Two concurrent callbacks with the same
        state cannot both succeed (the update is conditional on ``consumed = false``).
        """
        async with self._db.transaction(write_lock=True) as conn:
            result = await conn.execute(
                update(pending)
                .where(and_(pending.c.state_hash == state_hash, pending.c.consumed.is_(False),
                            pending.c.expires_at > now))
                .values(consumed=True))
            if not result.rowcount:
                return None
            row = (await conn.execute(
                select(pending).where(pending.c.state_hash == state_hash))).mappings().one()
        return _from_row(row)

    async def purge(self, now: datetime) -> int:
        """Delete expired and consumed states; returns how many went."""
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(pending).where(
                or_(pending.c.expires_at <= now, pending.c.consumed.is_(True))))
        return int(result.rowcount)


def _to_row(record: PendingStateRecord) -> dict[str, Any]:
    return {
        "state_hash": record.state_hash,
        "broker": record.broker,
        "connection_id": record.connection_id,
        "redirect_uri": record.redirect_uri,
        "verifier_ciphertext": record.code_verifier.ciphertext,
        "verifier_nonce": record.code_verifier.nonce,
        "verifier_wrapped_key": record.code_verifier.wrapped_key,
        "kek_id": record.code_verifier.kek_id,
        "kek_version": record.code_verifier.kek_version,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "consumed": record.consumed,
    }


def _from_row(row: RowMapping) -> PendingStateRecord:
    return PendingStateRecord(
        state_hash=row["state_hash"],
        broker=row["broker"],
        connection_id=row["connection_id"],
        redirect_uri=row["redirect_uri"],
        code_verifier=sealed_from_columns(
            row["verifier_ciphertext"], row["verifier_nonce"], row["verifier_wrapped_key"],
            row["kek_id"], row["kek_version"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        consumed=bool(row["consumed"]),
    )
