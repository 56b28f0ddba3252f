"""What the vault needs from persistence: its records and the store protocols.

The vault seals and opens; it never writes SQL. It reads and writes through the
protocols here, which ``brokerlink.bootstrap`` satisfies with the database
repositories (see DESIGN.md: storage implements these, auth only names them). A
store must keep the vault's cross-process rules: a value is accepted only if it is
sealed under the KEK that is active *in the same transaction* (else
``StaleKekError``), a pending state is consumed at most once, and a key-registry
change is one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import SecretStr

from brokerlink.auth.keys import VaultError

__all__ = [
    "PENDING_STATE_AD_PREFIX",
    "PENDING_STATE_FIELD",
    "CredentialRecord",
    "CredentialStore",
    "KekRecord",
    "KekState",
    "PendingStateRecord",
    "PendingStateRows",
    "Rewrap",
    "SealedLocation",
    "SealedSecret",
    "SealedTable",
    "StaleKekError",
    "VaultKeyStore",
    "VaultStore",
    "hash_state",
]

PENDING_STATE_AD_PREFIX = "oauth-state:"
"""A pending state's verifier is sealed for ``("oauth-state:<state hash>", ...)``."""
PENDING_STATE_FIELD = "code_verifier"


def hash_state(state: SecretStr) -> str:
    """The SHA-256 hex digest under which a ``state`` value is stored and looked up.

    A plain hash suffices: ``state`` is a high-entropy random token, not a password.
    """
    return hashlib.sha256(state.get_secret_value().encode()).hexdigest()


class StaleKekError(VaultError):
    """A value was sealed under a KEK that is no longer active (a rotation began).

    The vault reloads its keys and seals again. The database store raises a subclass
    that is also a ``StorageError``.
    """


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """One secret sealed by the vault: ciphertext plus its wrapped data key.

    Opens only for the (connection id, field) it was sealed for, and only with the
    key-encryption key named by ``kek_id``. Byte fields are kept out of ``repr``:
    not secret, but noise in logs and tracebacks.
    """

    ciphertext: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    wrapped_key: bytes = field(repr=False)
    kek_id: str
    kek_version: int


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A sealed credential field of a connection (or of a reserved system id)."""

    connection_id: str
    field: str
    sealed: SealedSecret
    created_at: datetime
    rotated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingStateRecord:
    """An OAuth authorization in flight, keyed by the SHA-256 of its ``state``."""

    state_hash: str
    broker: str
    redirect_uri: str
    code_verifier: SealedSecret
    created_at: datetime
    expires_at: datetime
    connection_id: str | None = None
    consumed: bool = False


class KekState(StrEnum):
    """Life of a key-encryption key: one active; retiring while rows move off it."""

    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class KekRecord:
    """What the database knows about a key-encryption key: never the key itself."""

    kek_id: str
    version: int
    provider: str
    check_value: bytes = field(repr=False)
    state: KekState
    created_at: datetime
    provider_ref: str | None = None
    salt: bytes | None = field(default=None, repr=False)
    retired_at: datetime | None = None
    destroyed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SealedLocation:
    """Where one sealed value lives and which identity its associated data binds."""

    table: str
    key: tuple[str, ...]
    connection_id: str
    field: str


Rewrap = Callable[[SealedSecret, str, str], SealedSecret]
"""Given a sealed value and its identity, return it with the data key re-wrapped."""


# --- store protocols -------------------------------------------------------------------


class CredentialStore(Protocol):
    """Sealed credential fields, one per (connection id, field); each call one transaction."""

    async def put_many(self, records: Iterable[CredentialRecord], *,
                       require_active_kek: bool = True) -> None:
        """Insert or replace; raises ``StaleKekError`` if a record's KEK is not active."""
        ...

    async def insert_if_absent(self, record: CredentialRecord) -> bool:
        """Insert unless present; returns whether it did. Raises ``StaleKekError``."""
        ...

    async def get(self, connection_id: str, field: str) -> CredentialRecord | None:
        """The sealed value, or ``None``."""
        ...

    async def delete(self, connection_id: str, field: str) -> bool:
        """Remove one field; returns whether it existed."""
        ...

    async def delete_connection(self, connection_id: str) -> int:
        """Remove every field of a connection; returns how many."""
        ...


class PendingStateRows(Protocol):
    """OAuth authorizations in flight, keyed by state hash, single use."""

    async def add(self, record: PendingStateRecord) -> None:
        """Store a new one; raises ``StaleKekError`` or a storage error on a duplicate."""
        ...

    async def get(self, state_hash: str) -> PendingStateRecord | None:
        """The record whatever its status, or ``None``."""
        ...

    async def consume(self, state_hash: str, now: datetime) -> PendingStateRecord | None:
        """Atomically mark consumed and return it if unconsumed and unexpired, else ``None``."""
        ...


class VaultKeyStore(Protocol):
    """The registry of key-encryption keys (never the keys themselves)."""

    async def all(self) -> list[KekRecord]:
        """Every KEK ever registered, lowest version first."""
        ...

    async def next_version(self) -> int:
        """One more than the highest registered version (1 when empty)."""
        ...

    async def activate(self, record: KekRecord) -> bool:
        """Register ``record`` active, demoting the active one to retiring, atomically;
        ``False`` (nothing changed) if another process registered that version first."""
        ...

    async def retire(self, kek_ids: list[str]) -> None:
        """Mark retiring KEKs retired."""
        ...

    async def mark_destroyed(self, kek_id: str) -> None:
        """Record that a retired KEK's material was deleted by its provider."""
        ...


class SealedTable(Protocol):
    """One table of sealed rows, as key rotation and status see it."""

    async def count_by_kek(self) -> dict[str, int]:
        """How many rows each KEK id wraps."""
        ...

    async def locations_under(self, kek_ids: Collection[str], limit: int
                              ) -> list[SealedLocation]:
        """Up to ``limit`` rows still wrapped by one of ``kek_ids``."""
        ...

    async def rewrap(self, location: SealedLocation, from_kek_ids: Collection[str],
                     rewrap: Rewrap) -> bool:
        """Re-wrap one row in its own locked transaction, compare-and-set on the KEK id;
        returns whether the row changed."""
        ...


class VaultStore(Protocol):
    """Everything the vault persists, in one place."""

    @property
    def credentials(self) -> CredentialStore: ...

    @property
    def pending_states(self) -> PendingStateRows: ...

    @property
    def keys(self) -> VaultKeyStore: ...

    def sealed_tables(self) -> Sequence[SealedTable]:
        """Every table holding vault ciphertext (for rotation and status)."""
        ...
