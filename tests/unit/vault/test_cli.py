"""``brokerlink vault status|rotate-key`` through Typer's CliRunner, on both backends."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr
from typer.testing import CliRunner

from brokerlink.bootstrap import load_vault
from brokerlink.cli.vault import app
from brokerlink.storage.engine import open_database
from tests.dbfixtures import DbTarget

runner = CliRunner()


def _put(target: DbTarget) -> str:
    async def run() -> str:
        database = await open_database(target.url, schema=target.schema)
        try:
            vault = await load_vault(database)
            await vault.put_secret("c1", "api_key", SecretStr("k-123"))
            return vault.active_kek.kek_id
        finally:
            await database.aclose()

    return asyncio.run(run())


def _get(target: DbTarget) -> tuple[str, str | None]:
    async def run() -> tuple[str, str | None]:
        database = await open_database(target.url, schema=target.schema)
        try:
            vault = await load_vault(database)
            value = await vault.get_secret("c1", "api_key")
            return vault.active_kek.kek_id, value.get_secret_value() if value else None
        finally:
            await database.aclose()

    return asyncio.run(run())


def test_status_names_provider_strength_and_advice(db_target: DbTarget) -> None:
    kek_id = _put(db_target)
    result = runner.invoke(app, ["status"], env=db_target.env)
    assert result.exit_code == 0, result.output
    assert "file (weak)" in result.output
    assert "keyring" in result.output
    assert kek_id in result.output
    assert "1 under the active key" in result.output


def test_rotate_key_keeps_secrets_openable(db_target: DbTarget) -> None:
    before = _put(db_target)
    result = runner.invoke(app, ["rotate-key"], env=db_target.env)
    assert result.exit_code == 0, result.output
    assert "re-wrapped" in result.output
    after, value = _get(db_target)
    assert after != before
    assert value == "k-123"


def test_unusable_provider_is_a_clean_error(db_target: DbTarget) -> None:
    result = runner.invoke(app, ["status"], env={**db_target.env,
                                                 "BROKERLINK_KEK_PROVIDER": "bogus"})
    assert result.exit_code == 1
    assert "unknown key provider" in result.output


def test_passphrase_provider_prompts_when_not_in_env(db_target: DbTarget) -> None:
    env = {**db_target.env, "BROKERLINK_KEK_PROVIDER": "passphrase"}
    first = runner.invoke(app, ["status"], env=env, input="a long passphrase\n")
    assert first.exit_code == 0, first.output
    assert "passphrase (strong)" in first.output
    assert "a long passphrase" not in first.output
    wrong = runner.invoke(app, ["status"], env=env, input="not it\n")
    assert wrong.exit_code == 1
    assert "does not match" in wrong.output
