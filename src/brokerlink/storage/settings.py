"""SettingsRepository: a small key/value store for non-secret settings."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database
from brokerlink.storage.tables import settings


class SettingsRepository:
    """Text values by key. Never put a secret here: it is stored in plain text."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or ``None``."""
        async with self._db.transaction() as conn:
            value = (await conn.execute(
                select(settings.c.value).where(settings.c.key == key))).scalar()
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""
        dialect_insert = sqlite.insert if self._db.is_sqlite else postgresql.insert
        statement = dialect_insert(settings).values(key=key, value=value, updated_at=utc_now())
        statement = statement.on_conflict_do_update(
            index_elements=[settings.c.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at})
        async with self._db.transaction() as conn:
            await conn.execute(statement)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether it existed."""
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(settings).where(settings.c.key == key))
        return bool(result.rowcount)
