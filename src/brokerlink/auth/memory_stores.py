"""In-memory ``PendingStateStore`` and ``TokenStore``: one process, no persistence.

For tests and throw-away sessions. They keep the same rules as the database-backed
stores (state kept only as its hash, single use, expiry; a refresh lock; changes of a
refresh session applied only when it exits cleanly), so tests of the flow and the
token manager exercise the real contracts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import SecretStr

from brokerlink.auth.oauth import PendingAuthorization, state_id
from brokerlink.auth.oauth_errors import (
    ExpiredStateError,
    ReplayedStateError,
    UnknownStateError,
)
from brokerlink.auth.tokens import StoredTokens, TokenSet

__all__ = ["MemoryPendingStateStore", "MemoryTokenStore"]


@dataclass(slots=True)
class _Pending:
    pending: PendingAuthorization
    consumed: bool = False


class MemoryPendingStateStore:
    """Pending authorizations in a dict keyed by ``state_id(state)``."""

    def __init__(self) -> None:
        self._states: dict[str, _Pending] = {}

    def __repr__(self) -> str:
        return f"MemoryPendingStateStore(pending={len(self)})"

    def __len__(self) -> int:
        return sum(1 for entry in self._states.values() if not entry.consumed)

    async def put(self, state: SecretStr, pending: PendingAuthorization) -> None:
        """Remember ``pending`` under the hash of ``state``."""
        self._states[state_id(state)] = _Pending(pending)

    async def take(self, state: SecretStr, *, now: datetime) -> PendingAuthorization:
        """Consume and return the authorization; see ``PendingStateStore.take``."""
        entry = self._states.get(state_id(state))
        if entry is None:
            raise UnknownStateError(
                "this sign-in callback does not belong to a sign-in started here; start "
                "the sign-in again")
        if entry.consumed:
            raise ReplayedStateError(
                "this sign-in callback was already used; start the sign-in again")
        if now >= entry.pending.expires_at:
            raise ExpiredStateError(
                "this sign-in took longer than 10 minutes; start the sign-in again")
        entry.consumed = True
        return entry.pending


@dataclass(slots=True)
class _Entry:
    stored: StoredTokens
    lock: asyncio.Lock


class _MemorySession:
    def __init__(self, entry: _Entry) -> None:
        self._entry = entry
        self.staged: StoredTokens = entry.stored

    async def current(self) -> StoredTokens:
        return self.staged

    async def store_refreshed(self, tokens: TokenSet) -> None:
        staged = self.staged
        self.staged = replace(staged, tokens=tokens,
                              refresh_attempts=staged.refresh_attempts + 1,
                              refresh_successes=staged.refresh_successes + 1)

    async def record_failure(self, *, reauth_required: bool) -> None:
        staged = self.staged
        self.staged = replace(staged, refresh_attempts=staged.refresh_attempts + 1,
                              reauth_required=staged.reauth_required or reauth_required)

    async def mark_reauth_required(self) -> None:
        self.staged = replace(self.staged, reauth_required=True)


class MemoryTokenStore:
    """Tokens per connection in a dict; ``refresh_lock`` is an ``asyncio.Lock``.

    ``fail_next_commit`` makes the next refresh session fail at commit time, for tests
    of "a rotation that could not be stored is never used".
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.fail_next_commit: BaseException | None = None

    def __repr__(self) -> str:
        return f"MemoryTokenStore(connections={len(self._entries)})"

    def _entry(self, connection_id: str) -> _Entry:
        entry = self._entries.get(connection_id)
        if entry is None:
            entry = _Entry(StoredTokens(None), asyncio.Lock())
            self._entries[connection_id] = entry
        return entry

    async def load(self, connection_id: str) -> StoredTokens:
        """The stored tokens (``tokens=None`` if none)."""
        return self._entry(connection_id).stored

    async def save(self, connection_id: str, tokens: TokenSet) -> None:
        """Store a new sign-in's tokens and clear ``reauth_required``; counters stay."""
        entry = self._entry(connection_id)
        async with entry.lock:
            entry.stored = replace(entry.stored, tokens=tokens, reauth_required=False)

    @asynccontextmanager
    async def refresh_lock(self, connection_id: str) -> AsyncIterator[_MemorySession]:
        """Exclusive access to one connection's tokens; staged changes apply on exit."""
        entry = self._entry(connection_id)
        async with entry.lock:
            session = _MemorySession(entry)
            yield session
            failure, self.fail_next_commit = self.fail_next_commit, None
            if failure is not None:
                raise failure
            entry.stored = session.staged
