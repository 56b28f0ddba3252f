"""Frozen records the repositories hand to callers, in place of ORM rows.

The vault's records (sealed secrets, credentials, pending states, KEKs) are defined
by ``brokerlink.auth.vault_store`` and the audit log's by ``brokerlink.audit.store``:
the ports the repositories here implement. They are re-exported so storage callers
find every record in one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from brokerlink.audit.store import AuditEventRecord, CheckpointRecord
from brokerlink.auth.vault_store import (
    CredentialRecord,
    KekRecord,
    KekState,
    PendingStateRecord,
    SealedSecret,
)

__all__ = [
    "AuditEventRecord",
    "CheckpointRecord",
    "ConnectionRecord",
    "ConnectionStatus",
    "CredentialRecord",
    "KekRecord",
    "KekState",
    "PendingStateRecord",
    "SealedSecret",
]


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
