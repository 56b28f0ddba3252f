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
from brokerlink.core.errors import BrokerError, Recovery

__all__ = [
    "MAX_ACTOR_CHARS",
    "MAX_BASE_URL_CHARS",
    "MAX_LABEL_CHARS",
    "AuditEventRecord",
    "CheckpointRecord",
    "ConnectionRecord",
    "ConnectionStatus",
    "CredentialRecord",
    "InvalidNameError",
    "KekRecord",
    "KekState",
    "PendingStateRecord",
    "SealedSecret",
    "check_actor",
    "check_base_url",
    "check_label",
]

# --- bounds on the strings a user supplies and brokerlink stores ----------------------

MAX_LABEL_CHARS = 100
"""A connection's label: 1 to 100 printable characters (the column holds 200)."""
MAX_ACTOR_CHARS = 200
"""Who acts (``cli:<user>``), recorded in every audit event: the column's 200."""
MAX_BASE_URL_CHARS = 500
"""A connection's host or emulator URL: the column's 500, printable ASCII."""


class InvalidNameError(BrokerError):
    """A label, actor or URL given to be stored is empty, too long or holds unprintable
    characters; nothing was stored. The message names the field and the rule."""

    recovery = Recovery.FIX_REQUEST


def _bounded(value: object, what: str, limit: int, *, ascii_only: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidNameError(f"{what} must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidNameError(f"{what} must not be empty (1 to {limit} printable characters)")
    if len(text) > limit:
        raise InvalidNameError(f"{what} is {len(text):,} characters long; at most {limit} "
                               "printable characters are allowed")
    # isprintable() refuses control characters, line breaks and lone surrogates, which
    # would garble tables and logs or fail to encode in the database.
    if not text.isprintable() or (ascii_only and not text.isascii()):
        kind = "printable ASCII" if ascii_only else "printable"
        raise InvalidNameError(f"{what} holds characters that are not {kind} (1 to {limit} "
                               f"{kind} characters are allowed)")
    return text


def check_label(label: str | None) -> str | None:
    """``label`` with surrounding spaces removed, or ``None`` (a default label is made).

    Raises ``InvalidNameError`` unless it is 1 to ``MAX_LABEL_CHARS`` printable characters.
    """
    return None if label is None else _bounded(label, "label", MAX_LABEL_CHARS)


def check_actor(actor: str) -> str:
    """``actor`` with surrounding spaces removed. Raises ``InvalidNameError`` unless it is
    1 to ``MAX_ACTOR_CHARS`` printable characters."""
    return _bounded(actor, "actor", MAX_ACTOR_CHARS)


def check_base_url(base_url: str | None) -> str | None:
    """``base_url`` with surrounding spaces removed, or ``None`` (the broker's default host).

    Raises ``InvalidNameError`` unless it is 1 to ``MAX_BASE_URL_CHARS`` printable ASCII
    characters (a simulated account's stored URL, ``paper://...``, included).
    """
    if base_url is None:
        return None
    return _bounded(base_url, "base URL", MAX_BASE_URL_CHARS, ascii_only=True)


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
