"""Migrations apply on a fresh database, are idempotent, and ship inside the package."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from brokerlink.storage.engine import Database, StorageError, open_database
from brokerlink.storage.migrate import MIGRATIONS_DIR, alembic_config, current_revision
from tests.dbfixtures import DbTarget

EXPECTED_TABLES = {"connections", "credentials", "oauth_pending_states", "audit_events",
                   "audit_checkpoints", "vault_keys", "settings", "alembic_version",
                   "order_intents", "order_queue", "paper_accounts"}


async def _tables(database: Database) -> set[str]:
    async with database.transaction() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def _head() -> str:
    """The newest revision among the packaged migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def test_fresh_database_has_every_table_at_head(database: Database) -> None:
    assert await _tables(database) >= EXPECTED_TABLES
    async with database.transaction() as conn:
        assert await conn.run_sync(current_revision) == _head()


async def test_reopening_is_idempotent(database: Database, db_target: DbTarget) -> None:
    async with database.transaction() as conn:
        await conn.execute(text("INSERT INTO settings (key, value, updated_at) "
                                "VALUES ('k', 'v', CURRENT_TIMESTAMP)"))
    for _ in range(2):
        again = await open_database(db_target.url, schema=db_target.schema)
        try:
            async with again.transaction() as conn:
                rows = (await conn.execute(text("SELECT value FROM settings"))).all()
                versions = (await conn.execute(text("SELECT * FROM alembic_version"))).all()
        finally:
            await again.aclose()
        assert rows == [("v",)]
        assert versions == [(_head(),)]


async def test_postgres_schema_holds_alembic_version(database: Database,
                                                     db_target: DbTarget) -> None:
    if db_target.schema is None:
        return
    async with database.transaction() as conn:
        found = (await conn.execute(text(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'alembic_version' AND table_schema = :schema"),
            {"schema": db_target.schema})).all()
    assert found == [(db_target.schema,)]


def test_migrations_are_package_data() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("v0001_*.py"))
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    hatch = tomllib.loads(pyproject.read_text())["tool"]["hatch"]["build"]
    # Hatchling ships everything under src/brokerlink unless excluded; make sure nothing is.
    for target in [hatch, *hatch.get("targets", {}).values()]:
        assert "exclude" not in target
        assert "only-include" not in target


async def test_unknown_newer_revision_is_a_clear_error(database: Database,
                                                       db_target: DbTarget) -> None:
    async with database.transaction() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StorageError, match="newer"):
        await open_database(db_target.url, schema=db_target.schema)
