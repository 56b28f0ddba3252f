"""Sealing, opening and refusing: the vault's envelope encryption on both backends."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import ColumnElement, and_, select, update

from brokerlink.auth.keys import FileKeyProvider
from brokerlink.auth.vault import (
    KekMismatchError,
    SecretTamperedError,
    Vault,
    VaultError,
)
from brokerlink.bootstrap import load_vault
from brokerlink.core.errors import BrokerError
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database
from brokerlink.storage.records import SealedSecret
from brokerlink.storage.tables import credentials

SECRET = "tok-3f9a-very-secret-value"


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


async def test_round_trip(vault: Vault) -> None:
    sealed = vault.seal("c1", "access_token", SecretStr(SECRET))
    assert SECRET.encode() not in sealed.ciphertext
    assert len(sealed.nonce) == 12
    assert sealed.kek_id == vault.active_kek.kek_id
    assert vault.open(sealed, "c1", "access_token").get_secret_value() == SECRET
    again = vault.seal("c1", "access_token", SecretStr(SECRET))
    assert again.nonce != sealed.nonce
    assert again.ciphertext != sealed.ciphertext
    assert again.wrapped_key != sealed.wrapped_key  # a fresh data key per secret
    assert SECRET not in repr(sealed)
    assert SECRET not in repr(vault)


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "wrapped_key"])
@pytest.mark.parametrize("index", [0, -1])
async def test_flipped_bit_is_refused(vault: Vault, part: str, index: int) -> None:
    sealed = vault.seal("c1", "api_secret", SecretStr(SECRET))
    original: bytes = getattr(sealed, part)
    changes: dict[str, Any] = {part: _flip(original, index % len(original))}
    tampered = dataclasses.replace(sealed, **changes)
    with pytest.raises(SecretTamperedError) as caught:
        vault.open(tampered, "c1", "api_secret")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert isinstance(caught.value, VaultError)
    assert isinstance(caught.value, BrokerError)


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "wrapped_key"])
async def test_truncated_is_refused(vault: Vault, part: str) -> None:
    sealed = vault.seal("c1", "api_secret", SecretStr(SECRET))
    changes: dict[str, Any] = {part: getattr(sealed, part)[:-1]}
    tampered = dataclasses.replace(sealed, **changes)
    with pytest.raises(SecretTamperedError):
        vault.open(tampered, "c1", "api_secret")
    with pytest.raises(SecretTamperedError):
        vault.open(dataclasses.replace(sealed, ciphertext=b""), "c1", "api_secret")


async def test_wrong_associated_data_is_refused(vault: Vault) -> None:
    sealed = vault.seal("c1", "access_token", SecretStr(SECRET))
    for connection_id, field_name in [("c2", "access_token"), ("c1", "refresh_token")]:
        with pytest.raises(SecretTamperedError, match="failed authentication"):
            vault.open(sealed, connection_id, field_name)


async def _copy_row(database: Database, source: tuple[str, str],
                    target: tuple[str, str]) -> None:
    def key(pair: tuple[str, str]) -> ColumnElement[bool]:
        return and_(credentials.c.connection_id == pair[0], credentials.c.field == pair[1])

    async with database.transaction() as conn:
        row = (await conn.execute(select(credentials.c.ciphertext, credentials.c.nonce,
                                         credentials.c.wrapped_key).where(key(source)))).one()
        await conn.execute(update(credentials).where(key(target)).values(
            ciphertext=row[0], nonce=row[1], wrapped_key=row[2]))


@pytest.mark.parametrize(("source", "target"), [
    (("A", "access_token"), ("B", "access_token")),   # another connection's secret
    (("A", "access_token"), ("A", "refresh_token")),  # another field's secret
])
async def test_swapped_rows_are_refused(vault: Vault, database: Database,
                                        source: tuple[str, str],
                                        target: tuple[str, str]) -> None:
    for connection_id in ("A", "B"):
        await vault.put_secrets(connection_id, {
            "access_token": SecretStr(f"{connection_id}-access"),
            "refresh_token": SecretStr(f"{connection_id}-refresh")})
    await _copy_row(database, source, target)
    with pytest.raises(SecretTamperedError) as caught:
        await vault.get_secret(*target)
    assert "access" not in str(caught.value).split(":")[-1]
    untouched = await vault.get_secret(*source)
    assert untouched is not None
    assert untouched.get_secret_value() == f"{source[0]}-access"


async def test_store_helpers(vault: Vault) -> None:
    assert await vault.get_secret("c1", "api_key") is None
    await vault.put_secret("c1", "api_key", SecretStr("k1"))
    await vault.put_secret("c1", "api_key", SecretStr("k2"))
    stored = await vault.get_secret("c1", "api_key")
    assert stored is not None
    assert stored.get_secret_value() == "k2"
    assert await vault.delete_connection_secrets("c1") == 1
    assert await vault.get_secret("c1", "api_key") is None


async def test_system_key_is_stable(vault: Vault, database: Database) -> None:
    first = await vault.system_key("__audit__", "hmac_key")
    other = await load_vault(database, FileKeyProvider())
    assert len(first) == 32
    assert await other.system_key("__audit__", "hmac_key") == first


async def test_pending_state_round_trip(vault: Vault) -> None:
    state, verifier = SecretStr("state-abc"), SecretStr("verifier-xyz")
    state_hash = await vault.put_pending_state(
        state=state, broker="schwab", redirect_uri="http://127.0.0.1:8765/cb",
        code_verifier=verifier, expires_at=utc_now() + timedelta(minutes=10))
    assert "state-abc" not in state_hash
    opened = await vault.take_pending_state(state)
    assert opened is not None
    assert opened.code_verifier.get_secret_value() == "verifier-xyz"
    assert opened.broker == "schwab"
    assert await vault.take_pending_state(state) is None
    assert await vault.take_pending_state(SecretStr("unknown")) is None
    await vault.put_pending_state(state=SecretStr("old"), broker="schwab", redirect_uri="x",
                                  code_verifier=verifier,
                                  expires_at=utc_now() - timedelta(seconds=1))
    assert await vault.take_pending_state(SecretStr("old")) is None


async def test_writer_with_stale_key_reseals_under_the_new_one(
        vault: Vault, database: Database) -> None:
    stale_view = await load_vault(database, FileKeyProvider())
    await vault.rotate()  # another "process" rotates; stale_view still thinks k1 is active
    await stale_view.put_secret("c1", "access_token", SecretStr(SECRET))
    async with database.transaction() as conn:
        kek_ids = (await conn.execute(select(credentials.c.kek_id))).scalars().all()
    await vault.reload()
    assert set(kek_ids) == {vault.active_kek.kek_id}
    stored = await vault.get_secret("c1", "access_token")
    assert stored is not None
    assert stored.get_secret_value() == SECRET


async def test_wrong_key_file_is_reported_as_mismatch(
        vault: Vault, database: Database, brokerlink_home: Path) -> None:
    await vault.put_secret("c1", "api_key", SecretStr(SECRET))
    key_file = brokerlink_home / "keys" / "master.key"
    key_file.write_bytes(bytes(32))
    with pytest.raises(KekMismatchError, match="does not match"):
        await load_vault(database, FileKeyProvider())


async def test_sealed_secret_repr_hides_bytes() -> None:
    sealed = SealedSecret(ciphertext=b"c" * 30, nonce=b"n" * 12, wrapped_key=b"w" * 60,
                          kek_id="k", kek_version=1)
    assert "ccc" not in repr(sealed)
    assert "www" not in repr(sealed)
