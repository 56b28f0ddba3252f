"""A damaged row in the key registry (vault_keys) is a typed vault error naming the key,
never an untyped TypeError when the vault loads: rows are changed with SQL, on SQLite and
PostgreSQL, as someone with access to the database would."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from brokerlink.auth.keys import FileKeyProvider, KekUnavailableError
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import load_vault
from brokerlink.core.errors import BrokerError
from brokerlink.storage.engine import Database

# What each damage does, on each backend (PostgreSQL enforces column types, so there an
# attacker retypes the column first).
DAMAGE: dict[str, tuple[list[str], list[str]]] = {
    "its check_value is not bytes": (
        ["UPDATE vault_keys SET check_value = 'plain text'"],
        ["ALTER TABLE vault_keys ALTER COLUMN check_value TYPE text "
         "USING encode(check_value, 'hex')"]),
    "its salt is not bytes": (
        ["UPDATE vault_keys SET salt = 42"],
        ["ALTER TABLE vault_keys ALTER COLUMN salt TYPE text USING 'x'"]),
    "its state is not one a vault writes": (
        ["PRAGMA ignore_check_constraints = ON", "UPDATE vault_keys SET state = 'bogus'"],
        ["ALTER TABLE vault_keys DROP CONSTRAINT ck_vault_keys_ck_vault_keys_state",
         "UPDATE vault_keys SET state = 'bogus'"]),
    "its version is not a number": (
        ["UPDATE vault_keys SET version = 'one'"],
        ["ALTER TABLE vault_keys ALTER COLUMN version TYPE text USING 'one'"]),
}


@pytest.mark.parametrize("expected", sorted(DAMAGE))
async def test_a_damaged_registry_row_is_a_typed_error(database: Database, vault: Vault,
                                                      expected: str) -> None:
    kek_id = vault.active_kek.kek_id
    sqlite, postgresql = DAMAGE[expected]
    async with database.transaction() as conn:
        for statement in sqlite if database.is_sqlite else postgresql:
            await conn.execute(text(statement))
    # A retyped column invalidates asyncpg's cached statement plans: start afresh.
    await database.engine.dispose()
    with pytest.raises(BrokerError) as raised:
        await load_vault(database, FileKeyProvider())
    assert isinstance(raised.value, KekUnavailableError)
    assert expected in str(raised.value)
    assert kek_id in str(raised.value)
