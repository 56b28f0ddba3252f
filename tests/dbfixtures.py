"""Database fixtures shared by the storage, vault and audit tests.

``database`` is parametrised over SQLite (a file under ``tmp_path``) and PostgreSQL
(127.0.0.1:5432, database ``test``; override with ``$BROKERLINK_TEST_POSTGRES_URL``).
Each PostgreSQL test gets its own schema, Alembic's version table included, dropped
afterwards, so runs never collide. Import these names into a ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from brokerlink.auth.keys import FileKeyProvider
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import load_vault
from brokerlink.storage.engine import Database, open_database

POSTGRES_URL = os.environ.get(
    "BROKERLINK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_CLEARED_ENV = (
    "BROKERLINK_DATABASE_URL", "BROKERLINK_DATABASE_SCHEMA", "BROKERLINK_MASTER_KEY",
    "BROKERLINK_MASTER_KEY_PREVIOUS", "BROKERLINK_PASSPHRASE", "BROKERLINK_NEW_PASSPHRASE",
    "BROKERLINK_TEST_ROTATE_DELAY",
)


@cache
def postgres_reachable() -> bool:
    """Whether something listens on the PostgreSQL test address."""
    url = make_url(POSTGRES_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class DbTarget:
    """Where a test's database lives; ``env`` opens it from a subprocess or the CLI."""

    kind: str
    url: str
    schema: str | None
    home: Path

    @property
    def env(self) -> dict[str, str]:
        values = {"BROKERLINK_HOME": str(self.home), "BROKERLINK_DATABASE_URL": self.url}
        if self.schema:
            values["BROKERLINK_DATABASE_SCHEMA"] = self.schema
        return values


@pytest.fixture
def brokerlink_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private BROKERLINK_HOME, the file key provider, and no inherited settings.

    The file provider is forced so a developer's real OS keyring is never touched.
    """
    home = tmp_path / "home"
    monkeypatch.setenv("BROKERLINK_HOME", str(home))
    monkeypatch.setenv("BROKERLINK_KEK_PROVIDER", "file")
    for name in _CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    return home


async def _run_on_postgres(statement: str) -> None:
    engine = create_async_engine(POSTGRES_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, brokerlink_home: Path) -> Iterator[DbTarget]:
    """The database a test runs against: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield DbTarget("sqlite", f"sqlite+aiosqlite:///{brokerlink_home}/brokerlink.db", None,
                       brokerlink_home)
        return
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL is not reachable at {make_url(POSTGRES_URL).host}:"
                    f"{make_url(POSTGRES_URL).port}; set BROKERLINK_TEST_POSTGRES_URL")
    schema = f"bl_test_{uuid.uuid4().hex[:16]}"
    # Sync fixture with its own short-lived loop: usable by sync (CLI) and async tests.
    asyncio.run(_run_on_postgres(f'CREATE SCHEMA "{schema}"'))
    try:
        yield DbTarget("postgresql", POSTGRES_URL, schema, brokerlink_home)
    finally:
        asyncio.run(_run_on_postgres(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
async def database(db_target: DbTarget) -> AsyncIterator[Database]:
    """An open, migrated database on each backend."""
    db = await open_database(db_target.url, schema=db_target.schema)
    try:
        yield db
    finally:
        await db.aclose()


@pytest.fixture
async def vault(database: Database, brokerlink_home: Path) -> Vault:
    """A vault on ``database`` keyed by the file provider under the test home."""
    return await load_vault(database, FileKeyProvider())


__all__ = ["DbTarget", "brokerlink_home", "database", "db_target", "postgres_reachable",
           "vault"]
