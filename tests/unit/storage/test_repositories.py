"""Repositories return frozen records and keep their invariants on both backends."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from brokerlink.core.values import utc_now
from brokerlink.storage.connections import ConnectionNotFoundError, ConnectionRepository
from brokerlink.storage.credentials import CredentialRepository
from brokerlink.storage.engine import Database, StorageError
from brokerlink.storage.pending_states import PendingStateRepository, hash_state
from brokerlink.storage.records import (
    ConnectionRecord,
    ConnectionStatus,
    CredentialRecord,
    KekRecord,
    KekState,
    PendingStateRecord,
    SealedSecret,
)
from brokerlink.storage.settings import SettingsRepository
from brokerlink.storage.vault_keys import StaleKekError, VaultKeyRepository


def _connection(connection_id: str = "c1") -> ConnectionRecord:
    now = utc_now()
    return ConnectionRecord(id=connection_id, broker="paper", label="Paper", status=
                            ConnectionStatus.CONNECTED, created_at=now, updated_at=now,
                            account_ids=("A1", "A2"), base_url="http://127.0.0.1:1")


def _sealed(kek_id: str = "k1") -> SealedSecret:
    return SealedSecret(ciphertext=b"\x01" * 20, nonce=b"\x02" * 12, wrapped_key=b"\x03" * 60,
                        kek_id=kek_id, kek_version=1)


async def _register_kek(database: Database, kek_id: str = "k1", version: int = 1) -> None:
    record = KekRecord(kek_id=kek_id, version=version, provider="file", check_value=b"x",
                       state=KekState.ACTIVE, created_at=utc_now())
    assert await VaultKeyRepository(database).activate(record)


async def test_connection_round_trip_and_updates(database: Database) -> None:
    repo = ConnectionRepository(database)
    created = await repo.add(_connection())
    loaded = await repo.get("c1")
    assert loaded == created
    assert loaded is not None
    assert loaded.created_at.tzinfo is UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.label = "x"  # type: ignore[misc]
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    updated = await repo.update("c1", status=ConnectionStatus.REAUTH_REQUIRED, reauth_due_at=due)
    assert updated.status is ConnectionStatus.REAUTH_REQUIRED
    assert updated.reauth_due_at == due
    await repo.record_refresh("c1", success=False)
    after = await repo.record_refresh("c1", success=True,
                                      access_token_expires_at=due + timedelta(hours=1))
    assert (after.refresh_attempts, after.refresh_successes) == (2, 1)
    assert after.access_token_expires_at == due + timedelta(hours=1)
    assert [c.id for c in await repo.list()] == ["c1"]
    with pytest.raises(StorageError, match="already exists"):
        await repo.add(_connection())
    with pytest.raises(ConnectionNotFoundError):
        await repo.update("missing", label="x")


async def test_connection_delete_removes_its_credentials(database: Database) -> None:
    await _register_kek(database)
    await ConnectionRepository(database).add(_connection())
    credentials = CredentialRepository(database)
    await credentials.put(CredentialRecord("c1", "access_token", _sealed(), utc_now()))
    assert await ConnectionRepository(database).delete("c1")
    assert await credentials.get("c1", "access_token") is None
    assert not await ConnectionRepository(database).delete("c1")


async def test_credentials_upsert_and_guard(database: Database) -> None:
    await _register_kek(database)
    repo = CredentialRepository(database)
    first = CredentialRecord("c1", "api_key", _sealed(), utc_now())
    await repo.put(first)
    replaced = dataclasses.replace(first, sealed=dataclasses.replace(
        _sealed(), ciphertext=b"\x09" * 20))
    await repo.put(replaced)
    loaded = await repo.get("c1", "api_key")
    assert loaded is not None
    assert loaded.sealed == replaced.sealed
    assert "ciphertext" not in repr(loaded.sealed)
    assert await repo.fields("c1") == ["api_key"]
    # A value sealed under a key that is not the active one is refused.
    await _register_kek(database, "k2", 2)
    with pytest.raises(StaleKekError):
        await repo.put(CredentialRecord("c1", "other", _sealed("k1"), utc_now()))
    assert not await repo.insert_if_absent(dataclasses.replace(replaced, sealed=_sealed("k2")))
    assert await repo.delete_connection("c1") == 1


async def test_pending_state_is_single_use_and_expires(database: Database) -> None:
    await _register_kek(database)
    repo = PendingStateRepository(database)
    now = utc_now()
    live = PendingStateRecord(state_hash=hash_state(SecretStr("s1")), broker="schwab",
                              redirect_uri="http://127.0.0.1/cb", code_verifier=_sealed(),
                              created_at=now, expires_at=now + timedelta(minutes=10))
    stale = dataclasses.replace(live, state_hash=hash_state(SecretStr("s2")),
                                expires_at=now - timedelta(seconds=1))
    await repo.add(live)
    await repo.add(stale)
    with pytest.raises(StorageError):
        await repo.add(live)
    assert len(live.state_hash) == 64
    assert "s1" not in live.state_hash
    taken = await repo.consume(live.state_hash, utc_now())
    assert taken is not None
    assert taken.consumed
    assert taken.broker == "schwab"
    assert await repo.consume(live.state_hash, utc_now()) is None
    assert await repo.consume(stale.state_hash, utc_now()) is None
    assert await repo.purge(utc_now()) == 2


async def test_settings(database: Database) -> None:
    repo = SettingsRepository(database)
    assert await repo.get("theme") is None
    await repo.set("theme", "dark")
    await repo.set("theme", "light")
    assert await repo.get("theme") == "light"
    assert await repo.delete("theme")


async def test_naive_datetimes_are_refused(database: Database) -> None:
    record = dataclasses.replace(_connection(), created_at=datetime(2020, 1, 1))  # noqa: DTZ001
    with pytest.raises(Exception, match="naive"):
        await ConnectionRepository(database).add(record)
