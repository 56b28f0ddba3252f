"""Issue 19 item 12: a sealed column damaged in the database (text instead of bytes, NULL,
a number, the wrong length) is a typed ``SecretTamperedError`` naming the connection and
field, never an untyped ``TypeError`` and never a plaintext. Rows are corrupted with SQL
on SQLite and PostgreSQL, as someone with access to the database would."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from brokerlink.auth.vault import DamagedColumn, SecretTamperedError, Vault
from brokerlink.storage.engine import Database
from brokerlink.storage.sealed import column_bytes

SECRET = "plaintext-canary-7Yq2"
CONNECTION, FIELD = "conn-damaged01", "api_secret"
_COLUMNS = ("ciphertext", "nonce", "wrapped_key")
_WHERE = f"connection_id = '{CONNECTION}' AND field = '{FIELD}'"


async def _sql(database: Database, *statements: str) -> None:
    async with database.transaction() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    # A retyped column invalidates asyncpg's cached statement plans: start afresh.
    await database.engine.dispose()


def _corruptions(database: Database, column: str) -> dict[str, list[str]]:
    """SQL that leaves ``column`` holding text, NULL, a number or too few bytes."""
    update = f"UPDATE credentials SET {column} = {{}} WHERE {_WHERE}"  # noqa: S608  (constants only)
    if database.is_sqlite:
        # SQLite keeps whatever type is written into a BLOB column.
        return {"text": [update.format(f"'{SECRET}'")],
                "int": [update.format("42")],
                "short": [update.format("X'00'")]}
    # PostgreSQL enforces bytea, so an attacker retypes the column first.
    return {"text": [f"ALTER TABLE credentials ALTER COLUMN {column} TYPE text "
                     f"USING encode({column}, 'hex')"],
            "NULL": [f"ALTER TABLE credentials ALTER COLUMN {column} DROP NOT NULL",
                     update.format("NULL")],
            "short": [update.format("'\\x00'::bytea")]}


def _assert_typed(exc: SecretTamperedError, column: str, kind: str) -> None:
    message = str(exc)
    assert CONNECTION in message
    assert FIELD in message
    assert SECRET not in message
    if kind in ("text", "NULL", "int"):
        assert column.replace("_", " ") in message


@pytest.mark.parametrize("column", _COLUMNS)
async def test_damaged_sealed_column_is_typed(database: Database, vault: Vault,
                                              column: str) -> None:
    kinds = _corruptions(database, column)
    for kind, statements in kinds.items():
        await vault.put_secret(CONNECTION, FIELD, SecretStr(SECRET))
        assert (await vault.get_secret(CONNECTION, FIELD)) is not None
        await _sql(database, *statements)
        with pytest.raises(SecretTamperedError) as caught:
            await vault.get_secret(CONNECTION, FIELD)
        _assert_typed(caught.value, column, kind)
        if not database.is_sqlite and kind == "text":
            # Put the retyped column back as bytea for the next corruption.
            await _sql(database, f"DELETE FROM credentials WHERE {_WHERE}",  # noqa: S608  (constants only)
                       f"ALTER TABLE credentials ALTER COLUMN {column} TYPE bytea "
                       f"USING decode({column}, 'hex')")


async def test_damaged_pending_state_verifier_is_typed(database: Database,
                                                       vault: Vault) -> None:
    from datetime import timedelta

    from brokerlink.core.values import utc_now

    state = SecretStr("state-canary-Zk81pQ")
    await vault.put_pending_state(state=state, broker="tradier",
                                  redirect_uri="http://127.0.0.1:5/callback",
                                  code_verifier=SecretStr(SECRET),
                                  expires_at=utc_now() + timedelta(minutes=5))
    value = "'not bytes'" if database.is_sqlite else "'\\x0102'::bytea"
    await _sql(database, f"UPDATE oauth_pending_states SET verifier_nonce = {value}")  # noqa: S608  (constants only)
    with pytest.raises(SecretTamperedError) as caught:
        await vault.take_pending_state(state)
    assert "code_verifier" in str(caught.value)
    assert SECRET not in str(caught.value)


async def test_rotation_over_a_damaged_row_is_typed(database: Database, vault: Vault) -> None:
    await vault.put_secret(CONNECTION, FIELD, SecretStr(SECRET))
    await vault.put_secret("conn-healthy0001", FIELD, SecretStr("healthy-secret-1"))
    if database.is_sqlite:
        await _sql(database, f"UPDATE credentials SET wrapped_key = 'text' WHERE {_WHERE}")  # noqa: S608  (constants only)
    else:
        await _sql(database, f"UPDATE credentials SET wrapped_key = '\\x00'::bytea "  # noqa: S608  (constants only)
                             f"WHERE {_WHERE}")
    with pytest.raises(SecretTamperedError) as caught:
        await vault.rotate()
    assert CONNECTION in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(("value", "found"), [("text", "text"), (None, "NULL"), (7, "int"),
                                              (1.5, "float")])
def test_column_bytes_marks_what_is_not_bytes(value: object, found: str) -> None:
    marked = column_bytes(value)
    assert isinstance(marked, DamagedColumn)
    assert marked == b""
    assert marked.found == found
    assert column_bytes(memoryview(b"ab")) == b"ab"
    assert not isinstance(column_bytes(bytearray(b"ab")), DamagedColumn)

