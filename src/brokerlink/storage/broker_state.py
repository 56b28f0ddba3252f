"""BrokerStateRepository: the state a broker keeps of its own (``BrokerSpec.stores_state``),
one row per connection.

A row holds the state's text (a simulated account's ``sim.snapshot`` JSON, say) and a
version that every save bumps. Saves are compare-and-swap on that version, so two
processes using one connection's state can never overwrite each other: the one that
saves second is told (``StateVersionConflictError``), reloads and applies its change
again. Every method is one transaction. Rows are deleted with their connection
(``ConnectionRepository.delete``).

The table is still called ``broker_states``: migration 0003 created it for its first
user, and the name is stored in every existing database. Renaming it would take a
migration that rebuilds the table on SQLite for no change in behaviour; the code here
calls it ``broker_states``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from brokerlink.core.values import utc_now
from brokerlink.storage.connections import ConnectionNotFoundError
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.journal import write_transaction
from brokerlink.storage.tables import connections
from brokerlink.storage.tables import paper_accounts as broker_states


@dataclass(frozen=True, slots=True)
class BrokerStateRecord:
    """One connection's stored state; ``state`` is its text (a snapshot's JSON)."""

    connection_id: str
    version: int
    state: str
    updated_at: datetime

    def __repr__(self) -> str:
        # The state runs to hundreds of kilobytes: keep it out of logs and tracebacks.
        return (f"BrokerStateRecord(connection_id={self.connection_id!r}, "
                f"version={self.version}, state=<{len(self.state)} chars>, "
                f"updated_at={self.updated_at.isoformat()})")


class StateVersionConflictError(StorageError):
    """Another writer saved this connection's state after the version the caller read;
    nothing was written. Reload, apply the change again, save again.

    ``found`` is the version stored now (``None``: the row is gone, its connection
    removed)."""

    def __init__(self, message: str, *, expected: int, found: int | None,
                 connection_id: str) -> None:
        super().__init__(message, connection_id=connection_id)
        self.expected = expected
        self.found = found


VERSIONS_PER_QUERY = 500
"""Connection ids per ``versions`` statement: far under SQLite's and asyncpg's caps
on bound parameters (32,766 and 32,767)."""


class BrokerStateRepository:
    """Load and compare-and-swap save of each connection's stored state."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, connection_id: str) -> BrokerStateRecord | None:
        """The stored state of ``connection_id``, or ``None`` if none is stored."""
        async with self._db.transaction() as conn:
            row = (await conn.execute(select(broker_states).where(
                broker_states.c.connection_id == connection_id))).mappings().first()
        if row is None:
            return None
        return BrokerStateRecord(row["connection_id"], row["version"], row["state"],
                                  row["updated_at"])

    async def version(self, connection_id: str) -> int | None:
        """The stored version alone (a cheap "has anyone saved since?" check), or
        ``None`` if nothing is stored."""
        return (await self.versions((connection_id,))).get(connection_id)

    async def versions(self, connection_ids: Collection[str]) -> dict[str, int]:
        """The stored versions of several connections in one transaction, by connection id;
        an id with nothing stored is absent. Ids are queried ``VERSIONS_PER_QUERY`` at a
        time (drivers cap a statement's parameters)."""
        wanted = list(dict.fromkeys(connection_ids))
        found: dict[str, int] = {}
        if not wanted:
            return found
        async with self._db.transaction() as conn:
            for start in range(0, len(wanted), VERSIONS_PER_QUERY):
                chunk = wanted[start:start + VERSIONS_PER_QUERY]
                rows = await conn.execute(
                    select(broker_states.c.connection_id, broker_states.c.version)
                    .where(broker_states.c.connection_id.in_(chunk)))
                found.update((str(row[0]), int(row[1])) for row in rows)
        return found

    async def save(self, connection_id: str, state: str, *, expected_version: int) -> int:
        """Store ``state`` if the stored version is still ``expected_version`` and
        return the new version (``expected_version + 1``). ``expected_version=0``
        means nothing is stored yet: the first save inserts.

        Raises ``StateVersionConflictError`` when another writer saved first (or the
        row was deleted), ``ConnectionNotFoundError`` on a first save for a connection
        that is not stored (so no row outlives its connection), ``ValueError`` for a
        negative ``expected_version``. Nothing is written when it raises.
        """
        if expected_version < 0:
            raise ValueError("expected_version is 0 (nothing stored yet) or a stored version")
        now = utc_now()
        new_version = expected_version + 1
        try:
            async with write_transaction(self._db) as conn:
                if expected_version == 0:
                    # FOR SHARE on PostgreSQL: the connection cannot be deleted before
                    # this insert commits (SQLite's write lock already excludes that).
                    owner = await conn.scalar(
                        select(connections.c.id).where(connections.c.id == connection_id)
                        .with_for_update(read=True))
                    if owner is None:
                        raise ConnectionNotFoundError(
                            f"no stored connection {connection_id!r}: its state was not "
                            "saved", connection_id=connection_id)
                    await conn.execute(insert(broker_states).values(
                        connection_id=connection_id, version=new_version, state=state,
                        updated_at=now))
                    return new_version
                result = await conn.execute(
                    update(broker_states)
                    .where(broker_states.c.connection_id == connection_id,
                           broker_states.c.version == expected_version)
                    .values(version=new_version, state=state, updated_at=now))
                if result.rowcount == 1:
                    return new_version
        except IntegrityError:
            # Two first saves raced and the other inserted: a conflict like any other.
            pass
        found = await self.version(connection_id)
        raise StateVersionConflictError(
            f"the state of {connection_id} was saved by another process (stored version "
            f"{found}, expected {expected_version}); reload it and apply the change again",
            expected=expected_version, found=found, connection_id=connection_id)

    async def delete(self, connection_id: str) -> bool:
        """Remove the stored state; whether there was one."""
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(broker_states).where(
                broker_states.c.connection_id == connection_id))
        return bool(result.rowcount)


__all__ = ["BrokerStateRecord", "BrokerStateRepository", "StateVersionConflictError"]
