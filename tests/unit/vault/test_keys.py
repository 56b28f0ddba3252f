"""Each key-encryption-key provider: creation, refusal of insecure stores, selection."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import PasswordDeleteError
from pydantic import SecretStr

from brokerlink.auth import keys
from brokerlink.auth.keys import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    EnvKeyProvider,
    FileKeyProvider,
    InsecureKeyStoreError,
    KekUnavailableError,
    KeyringKeyProvider,
    PassphraseKeyProvider,
    select_provider,
)
from brokerlink.auth.vault import KekMismatchError
from brokerlink.bootstrap import load_vault
from brokerlink.storage.engine import Database


class FakeSecureKeyring(KeyringBackend):
    """An in-memory stand-in for an OS keyring (secure by declaration)."""

    priority = 10

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class PlaintextKeyring(FakeSecureKeyring):
    """Named like keyrings.alt's plaintext file backend: must be refused."""


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def _b64_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_keyring_provider_with_secure_backend(
        database: Database, restore_keyring: None) -> None:
    backend = FakeSecureKeyring()
    keyring.set_keyring(backend)
    vault = await load_vault(database, KeyringKeyProvider())
    await vault.put_secret("c1", "api_key", SecretStr("value-1"))
    assert len(backend.entries) == 1
    stored = next(iter(backend.entries.values()))
    assert len(base64.b64decode(stored)) == 32
    reopened = await load_vault(database, KeyringKeyProvider())
    value = await reopened.get_secret("c1", "api_key")
    assert value is not None
    assert value.get_secret_value() == "value-1"
    assert reopened.provider.info().strength == "strong"


# keyring's own backends have untyped constructors.
_FAIL: Any = fail.Keyring
_NULL: Any = null.Keyring


@pytest.mark.parametrize("backend", [_FAIL(), _NULL(), PlaintextKeyring()])
def test_keyring_provider_refuses_insecure_backends(
        backend: KeyringBackend, restore_keyring: None) -> None:
    keyring.set_keyring(backend)
    with pytest.raises(InsecureKeyStoreError, match="does not store secrets securely"):
        KeyringKeyProvider().create("k1")
    assert not keys.secure_keyring_available()


def test_default_selection(monkeypatch: pytest.MonkeyPatch, brokerlink_home: Path,
                           restore_keyring: None) -> None:
    monkeypatch.delenv("BROKERLINK_KEK_PROVIDER")
    keyring.set_keyring(_FAIL())
    assert isinstance(select_provider(), FileKeyProvider)  # headless: file
    keyring.set_keyring(FakeSecureKeyring())
    assert isinstance(select_provider(), KeyringKeyProvider)
    monkeypatch.setenv("BROKERLINK_MASTER_KEY", _b64_key())
    assert isinstance(select_provider(), EnvKeyProvider)
    monkeypatch.setenv("BROKERLINK_KEK_PROVIDER", "passphrase")
    assert isinstance(select_provider(), PassphraseKeyProvider)
    monkeypatch.setenv("BROKERLINK_KEK_PROVIDER", "vaultwarden")
    with pytest.raises(keys.VaultError, match="use one of"):
        select_provider()


async def test_env_provider_and_rotation_to_a_new_env_key(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _b64_key()
    monkeypatch.setenv("BROKERLINK_MASTER_KEY", old)
    vault = await load_vault(database, EnvKeyProvider())
    await vault.put_secret("c1", "api_key", SecretStr("v"))
    with pytest.raises(keys.VaultError, match="already used"):
        await vault.rotate()  # same key in the env: refuse a no-op rotation
    monkeypatch.setenv("BROKERLINK_MASTER_KEY", _b64_key())
    monkeypatch.setenv("BROKERLINK_MASTER_KEY_PREVIOUS", old)
    report = await vault.rotate()
    assert report.rewrapped == 1
    monkeypatch.delenv("BROKERLINK_MASTER_KEY_PREVIOUS")
    fresh = await load_vault(database, EnvKeyProvider())
    value = await fresh.get_secret("c1", "api_key")
    assert value is not None
    assert value.get_secret_value() == "v"


@pytest.mark.parametrize("value", ["not base64!!", base64.b64encode(b"short").decode()])
def test_env_provider_refuses_bad_keys(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BROKERLINK_MASTER_KEY", value)
    with pytest.raises(KekUnavailableError) as caught:
        EnvKeyProvider().create("k1")
    assert value not in str(caught.value)


def test_env_provider_requires_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERLINK_MASTER_KEY", raising=False)
    with pytest.raises(KekUnavailableError, match="not set"):
        EnvKeyProvider().create("k1")


async def test_passphrase_provider(database: Database) -> None:
    assert ARGON2_MEMORY_KIB >= 19_456
    assert ARGON2_TIME_COST >= 2
    assert ARGON2_PARALLELISM == 1
    vault = await load_vault(database, PassphraseKeyProvider(SecretStr("correct horse battery")))
    await vault.put_secret("c1", "api_key", SecretStr("v"))
    salt = vault.active_kek.salt
    assert salt is not None
    assert len(salt) == 16
    with pytest.raises(KekMismatchError, match="passphrase"):
        await load_vault(database, PassphraseKeyProvider(SecretStr("wrong")))
    again = await load_vault(database, PassphraseKeyProvider(SecretStr("correct horse battery")))
    value = await again.get_secret("c1", "api_key")
    assert value is not None
    assert value.get_secret_value() == "v"


def test_passphrase_provider_needs_a_passphrase() -> None:
    with pytest.raises(KekUnavailableError, match="BROKERLINK_PASSPHRASE"):
        PassphraseKeyProvider().create("k1")


def test_file_provider_creates_private_key_file(brokerlink_home: Path) -> None:
    provider = FileKeyProvider()
    created = provider.create("k1")
    path = brokerlink_home / "keys" / "master.key"
    assert created.provider_ref == "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes() == created.material
    assert path.parent != brokerlink_home  # apart from the database
    assert list(provider.candidates("k1", "master.key", None)) == [created.material]
    second = provider.create("k2")
    assert second.provider_ref == "master-k2.key"  # never overwrites a key
    provider.destroy("k2", second.provider_ref)
    assert not (path.parent / "master-k2.key").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_file_provider_refuses_readable_key_file(brokerlink_home: Path, mode: int) -> None:
    provider = FileKeyProvider()
    provider.create("k1")
    path = brokerlink_home / "keys" / "master.key"
    os.chmod(path, mode)
    with pytest.raises(InsecureKeyStoreError, match="chmod 600"):
        list(provider.candidates("k1", "master.key", None))


def test_file_provider_missing_file(brokerlink_home: Path) -> None:
    with pytest.raises(KekUnavailableError, match="missing"):
        list(FileKeyProvider().candidates("k1", "master.key", None))
