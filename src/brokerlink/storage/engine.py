"""Opening the database: URL resolution, SQLite hardening, migrations on open.

``open_database()`` returns a ``Database`` holding the ``AsyncEngine`` and an
``async_sessionmaker``; the schema is brought to the newest Alembic revision
before it returns, so callers never see an old schema.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from brokerlink.core.errors import BrokerError
from brokerlink.paths import PRIVATE_FILE_MODE, default_database_path, ensure_private_dir

DATABASE_URL_ENV = "BROKERLINK_DATABASE_URL"
DATABASE_SCHEMA_ENV = "BROKERLINK_DATABASE_SCHEMA"

# Seconds a writer waits for SQLite's lock before failing: long enough to ride out
# another process's audit append or rotation step, short enough to surface a hang.
SQLITE_BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE_OPTION = "brokerlink_sqlite_immediate"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Any stable 64-bit number; every brokerlink process agrees on it.
_MIGRATION_LOCK_KEY = 0x62726B6C6D696772


class StorageError(BrokerError):
    """The database could not be opened, migrated or used; the message says why."""


class Database:
    """An open brokerlink database: engine, session factory, dialect-aware transactions.

    Create with ``open_database``; close with ``aclose()``. Safe to share between
    tasks; each ``transaction()`` uses its own pooled connection.
    """

    def __init__(self, engine: AsyncEngine, *, sqlite_path: Path | None = None) -> None:
        self.engine = engine
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False)
        self.sqlite_path = sqlite_path

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def transaction(self, *, write_lock: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: commit on success, rollback on error.

        ``write_lock=True`` makes SQLite start with ``BEGIN IMMEDIATE``, taking the
        database write lock up front so a read-then-write step cannot be interleaved
        with another process's (and cannot fail late with SQLITE_BUSY). On PostgreSQL
        it changes nothing: callers there lock rows or take advisory locks.
        """
        engine = self.engine.execution_options(**{_IMMEDIATE_OPTION: True}) if (
            write_lock and self.is_sqlite) else self.engine
        async with engine.begin() as conn:
            yield conn
        self.secure_files()

    def secure_files(self) -> None:
        """Force mode 0600 on the SQLite file and its -wal/-shm companions, if present.

        SQLite creates the companions lazily (honouring the umask, not our mode), so
        this runs after opening and after each transaction; chmod is cheap.
        """
        if self.sqlite_path is None:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = Path(f"{self.sqlite_path}{suffix}")
            try:
                if candidate.stat().st_mode & 0o777 != PRIVATE_FILE_MODE:
                    os.chmod(candidate, PRIVATE_FILE_MODE)
            except FileNotFoundError:
                continue

    async def aclose(self) -> None:
        """Dispose of the pool; the object is unusable afterwards."""
        await self.engine.dispose()
        self.secure_files()


def resolve_database_url(url: str | None = None) -> URL:
    """The URL to open: ``url``, else ``$BROKERLINK_DATABASE_URL``, else the embedded file.

    Plain ``postgresql://`` and ``sqlite://`` URLs get their async driver added.
    Raises ``StorageError`` for an unparsable URL or an unsupported backend.
    """
    raw = url or os.environ.get(DATABASE_URL_ENV, "").strip() or None
    if raw is None:
        try:
            return make_url(f"sqlite+aiosqlite:///{default_database_path()}")
        except OSError as exc:  # the home is a file, or cannot be created
            raise StorageError(f"no place for the database: {exc}") from exc
    try:
        parsed = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        # The URL may carry a password: never echo it back.
        raise StorageError(
            f"{DATABASE_URL_ENV} is not a valid database URL; expected e.g. "
            "postgresql+asyncpg://user@host:5432/dbname") from exc
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StorageError(f"{DATABASE_URL_ENV} names port {parsed.port}: a port is 1-65535")
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise StorageError(
        f"unsupported database backend {backend!r}: use SQLite (the default) or PostgreSQL")


async def open_database(url: str | None = None, *, schema: str | None = None) -> Database:
    """Open (creating if needed) and migrate the brokerlink database.

    ``url`` defaults as in ``resolve_database_url``. On PostgreSQL, ``schema`` (or
    ``$BROKERLINK_DATABASE_SCHEMA``) selects an existing schema for every table,
    Alembic's version table included. SQLite files are created mode 0600 in a 0700
    directory and every connection gets WAL, synchronous=FULL, foreign keys and a
    busy timeout. Raises ``StorageError`` if the database is unreachable or a
    migration fails.
    """
    resolved = resolve_database_url(url)
    schema = schema or os.environ.get(DATABASE_SCHEMA_ENV, "").strip() or None
    connect_args: dict[str, Any] = {}
    sqlite_path: Path | None = None
    if resolved.get_backend_name() == "sqlite":
        if schema is not None:
            raise StorageError("a database schema can only be chosen on PostgreSQL")
        sqlite_path = _prepare_sqlite_file(resolved)
    elif schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise StorageError(f"invalid schema name {schema!r}: use letters, digits, _")
        connect_args["server_settings"] = {"search_path": schema}
    # A pooled PostgreSQL connection can die with its server; ping it before use. A
    # SQLite connection is a file handle that cannot go stale, and a ping would cost
    # every transaction a round trip through aiosqlite's thread.
    engine = create_async_engine(resolved, connect_args=connect_args,
                                 pool_pre_ping=sqlite_path is None)
    if sqlite_path is not None:
        _install_sqlite_hooks(engine)
    database = Database(engine, sqlite_path=sqlite_path)
    try:
        await _migrate(database)
    except CommandError as exc:
        await engine.dispose()
        raise StorageError(
            "the database schema is at a revision this version of brokerlink does not know "
            "(made by a newer version?); upgrade brokerlink or use another database") from exc
    except (SQLAlchemyError, OSError, OverflowError, ValueError) as exc:
        # OverflowError/ValueError: the driver refusing what the URL names (asyncpg).
        await engine.dispose()
        where = str(sqlite_path) if sqlite_path else resolved.render_as_string(
            hide_password=True)
        raise StorageError(
            f"could not open and migrate the database at {where}: {type(exc).__name__}; "
            "check that it is reachable and writable") from exc
    database.secure_files()
    return database


def _prepare_sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise StorageError("an in-memory SQLite database cannot be shared; give a file path")
    try:
        path = Path(url.database).expanduser().resolve()
        ensure_private_dir(path.parent)
        # Create it ourselves with 0600 so it is never readable by others, even briefly.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        os.close(fd)
        os.chmod(path, PRIVATE_FILE_MODE)
    except (OSError, RuntimeError, ValueError) as exc:
        # RuntimeError: a symlink loop; ValueError: a NUL byte in the path.
        reason = str(exc) if isinstance(exc, OSError) and not exc.errno else (
            getattr(exc, "strerror", None) or type(exc).__name__)
        raise StorageError(f"cannot use the SQLite database file {url.database!r}: "
                           f"{reason}") from exc
    return path


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so we decide BEGIN vs BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def _migrate(database: Database) -> None:
    # Imported here: Alembic is only needed while opening, not on every import.
    from brokerlink.storage.migrate import upgrade_to_head

    async with database.transaction(write_lock=True) as conn:
        if not database.is_sqlite:
            # Two processes opening a fresh database at once must not both create tables.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _MIGRATION_LOCK_KEY})
        await conn.run_sync(upgrade_to_head)
