"""Persistence: the async engine, the schema, Alembic migrations and one repository per concept.

Callers get frozen records from ``storage.records``, never ORM rows. SQLite
(aiosqlite) is the embedded default; PostgreSQL (asyncpg) is used when
``$BROKERLINK_DATABASE_URL`` names one.
"""

from brokerlink.storage.engine import Database, StorageError, open_database

__all__ = ["Database", "StorageError", "open_database"]
