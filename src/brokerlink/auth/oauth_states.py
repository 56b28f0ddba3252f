"""``VaultPendingStateStore``: pending OAuth authorizations kept by the vault (the OAuth
flow's ``PendingStateStore``).

Built on the vault's pending-state helpers, so they persist wherever the vault's
store does (the database, wired by ``brokerlink.bootstrap``): the table keeps only the
SHA-256 of the ``state`` and the PKCE verifier sealed (AES-256-GCM, bound to that
hash), so reading the database gives an attacker neither a replayable callback nor a
verifier. Consumption is a conditional update, so two callbacks with one state cannot
both win, even in two processes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

from brokerlink.auth.oauth import PendingAuthorization
from brokerlink.auth.oauth_errors import (
    ExpiredStateError,
    ReplayedStateError,
    UnknownStateError,
)
from brokerlink.auth.vault import Vault

__all__ = ["VaultPendingStateStore"]


class VaultPendingStateStore:
    """``PendingStateStore`` over ``Vault.put_pending_state`` / ``take_pending_state``."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def __repr__(self) -> str:
        return "VaultPendingStateStore()"

    async def put(self, state: SecretStr, pending: PendingAuthorization) -> None:
        """Store ``pending``: state hashed, verifier sealed. Raises ``StorageError`` or
        ``VaultError`` subclasses."""
        await self._vault.put_pending_state(
            state=state, broker=pending.broker, redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier, expires_at=pending.expires_at,
            connection_id=pending.connection_id)

    async def take(self, state: SecretStr, *, now: datetime) -> PendingAuthorization:
        """Consume the authorization; see ``PendingStateStore.take`` for the errors."""
        opened = await self._vault.take_pending_state(state, now=now)
        if opened is not None:
            return PendingAuthorization(
                broker=opened.broker, redirect_uri=opened.redirect_uri,
                code_verifier=opened.code_verifier, created_at=opened.created_at,
                expires_at=opened.expires_at, connection_id=opened.connection_id)
        # Refused: read (without changing anything) why, to say what happened.
        record = await self._vault.pending_state(state)
        if record is None:
            raise UnknownStateError(
                "this sign-in callback does not belong to a sign-in started here; start "
                "the sign-in again")
        if record.consumed:
            raise ReplayedStateError(
                "this sign-in callback was already used; start the sign-in again",
                broker=record.broker)
        raise ExpiredStateError(
            "this sign-in took longer than 10 minutes; start the sign-in again",
            broker=record.broker)
