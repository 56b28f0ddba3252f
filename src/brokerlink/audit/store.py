"""What the audit log needs from persistence: its records and the store protocols.

``AuditLog`` hashes, chains and checks; it never writes SQL. An ``AuditEventStore``
(the database one is wired by ``brokerlink.bootstrap``) must append a batch in one
transaction under a lock that serialises appenders across processes, and write the
checkpoint row in that same transaction, so the stored checkpoint always names the
head unless someone edited the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

__all__ = [
    "GENESIS_HASH",
    "AppendBuilder",
    "AuditEventRecord",
    "AuditEventStore",
    "AuditKeySource",
    "AuditSnapshotView",
    "CheckpointRecord",
    "DamagedRecord",
    "StoredCheckpoint",
    "StoredEvent",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event."""


@dataclass(frozen=True, slots=True)
class AuditEventRecord:
    """One stored audit event; ``detail`` is the canonical JSON text the HMAC covers."""

    seq: int
    at: datetime
    actor: str
    action: str
    detail: str
    outcome: str
    prev_hash: str
    hash: str
    connection_id: str | None = None
    broker: str | None = None


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """The audit chain's head as last recorded: seq, hash and their MAC."""

    seq: int
    hash: str
    mac: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DamagedRecord:
    """A stored row that is not a well-formed event or checkpoint (see ``audit.rows``).

    ``seq`` is its sequence number if it has a usable one; ``reason`` says what is
    wrong, naming columns, never quoting their content.
    """

    seq: int | None
    reason: str


StoredEvent = AuditEventRecord | DamagedRecord
"""An event row as read back: well-formed, or damaged (reported, never raised)."""

StoredCheckpoint = CheckpointRecord | DamagedRecord
"""The checkpoint row as read back: well-formed, or damaged."""

AppendBuilder = Callable[
    [int, str, StoredCheckpoint | None], tuple[AuditEventRecord, CheckpointRecord]]
"""Given the head (seq, hash; 0 and ``GENESIS_HASH`` when empty; a damaged head hash
is passed as read, or ``""``) and the stored checkpoint, return the event to insert and
the checkpoint to store. May raise to refuse the append; the transaction then rolls
back."""


class AuditSnapshotView(Protocol):
    """Reads inside one consistent snapshot."""

    async def checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint as of the snapshot."""
        ...

    async def page(self, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` rows with an integer ``seq > after_seq``, in seq order; each
        well-formed or damaged. Never raises for a row's content."""
        ...

    async def unnumbered(self, limit: int) -> list[DamagedRecord]:
        """Up to ``limit`` rows that have no integer sequence number."""
        ...


class AuditEventStore(Protocol):
    """The append-only event table and its head checkpoint; no hashing here."""

    @property
    def dialect(self) -> str:
        """Which database holds the log (shown in ``repr``)."""
        ...

    async def append_many(self, builds: Sequence[AppendBuilder]) -> list[AuditEventRecord]:
        """One event per builder, chained in order, and the checkpoint moved once: one
        transaction under the chain lock. If a builder raises, nothing is written."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[AuditSnapshotView]:
        """A consistent read view of events and checkpoint (for verification)."""
        ...

    async def checkpoint(self) -> StoredCheckpoint | None:
        """The stored checkpoint, or ``None`` before the first append."""
        ...

    async def has_events(self) -> bool:
        """Whether any event row exists, damaged or not."""
        ...

    async def recent(self, limit: int) -> list[StoredEvent]:
        """The last ``limit`` numbered rows, oldest first, well-formed or damaged."""
        ...


class AuditKeySource(Protocol):
    """Where the audit HMAC key is kept sealed: the vault."""

    async def get_secret(self, connection_id: str, field_name: str) -> SecretStr | None:
        """The opened secret, or ``None`` if none is stored."""
        ...

    async def system_key(self, owner: str, field_name: str, *, nbytes: int = 32) -> bytes:
        """A random key kept sealed under a reserved id, created on first use."""
        ...
