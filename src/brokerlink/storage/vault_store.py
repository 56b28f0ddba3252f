"""``SqlVaultStore``: the vault's ``VaultStore`` over the database repositories."""

from __future__ import annotations

from collections.abc import Sequence

from brokerlink.storage.credentials import CredentialRepository
from brokerlink.storage.engine import Database
from brokerlink.storage.pending_states import PendingStateRepository
from brokerlink.storage.sealed import SealedRowStore, sealed_stores
from brokerlink.storage.vault_keys import VaultKeyRepository

__all__ = ["SqlVaultStore"]


class SqlVaultStore:
    """Credentials, pending OAuth states, the KEK registry and the sealed tables of one
    database; the repositories keep the vault's transaction rules (see their docs)."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._credentials = CredentialRepository(database)
        self._pending = PendingStateRepository(database)
        self._keys = VaultKeyRepository(database)

    def __repr__(self) -> str:
        return f"SqlVaultStore(dialect={self._db.dialect!r})"

    @property
    def credentials(self) -> CredentialRepository:
        return self._credentials

    @property
    def pending_states(self) -> PendingStateRepository:
        return self._pending

    @property
    def keys(self) -> VaultKeyRepository:
        return self._keys

    def sealed_tables(self) -> Sequence[SealedRowStore]:
        """Every table holding vault ciphertext."""
        return sealed_stores(self._db)
