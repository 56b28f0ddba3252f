"""Frozen records the repositories hand to callers, in place of ORM rows.

Byte fields (ciphertext, wrapped keys) are excluded from ``repr``: they are not
secret, but they are noise in logs and tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ConnectionStatus(StrEnum):
    """How usable a stored broker connection is."""

    CONNECTED = "connected"
    DEGRADED = "degraded"
    REAUTH_REQUIRED = "reauth_required"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A stored broker connection; its secrets live in the vault, not here."""

    id: str
    broker: str
    label: str
    status: ConnectionStatus
    created_at: datetime
    updated_at: datetime
    account_ids: tuple[str, ...] = ()
    base_url: str | None = None
    access_token_expires_at: datetime | None = None
    reauth_due_at: datetime | None = None
    last_refresh_at: datetime | None = None
    refresh_attempts: int = 0
    refresh_successes: int = 0


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """One secret sealed by the vault: ciphertext plus its wrapped data key.

    Opens only for the (connection id, field) it was sealed for, and only with the
    key-encryption key named by ``kek_id``.
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
