"""The OAuth token lifecycle of one connection: refresh ahead, single-flight, rotation.

``TokenManager`` implements the transport's ``CredentialSource``: ``auth_headers``
returns a bearer header, refreshing first when the token is due, and ``on_unauthorized``
forces one refresh after a 401.

Rules it keeps:

* **Refresh ahead.** A token is refreshed at least 5 minutes before it expires, or once
  80 % of its lifetime has passed, whichever is earlier, so no request ever carries an
  expired token (``refresh_due_at``).
* **Single flight.** One refresh at a time per connection: an ``asyncio.Lock`` inside the
  process and the store's lock across processes (a row lock on PostgreSQL, ``BEGIN
  IMMEDIATE`` on SQLite). After taking the lock the stored tokens are read again: another
  process may already have refreshed, and then no request is sent.
* **Rotation is durable before use.** A refresh's result (including a rotated refresh
  token) is committed in the same transaction that held the lock, before the new access
  token is returned to anyone.
* **No retry storm.** A refused refresh token (``invalid_grant``, or the broker's variant)
  marks the connection ``reauth_required``; from then on every call raises
  ``ReauthRequiredError`` at once, without touching the server, until a new sign-in is
  saved with ``TokenStore.save``.
* **Counted.** Every refresh attempt and success is persisted per connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import SecretStr

from brokerlink.auth.oauth_errors import RefreshTokenRejectedError
from brokerlink.auth.secrets import reveal, secrets_equal
from brokerlink.core.errors import BrokerError, ReauthRequiredError
from brokerlink.core.values import utc_now

__all__ = [
    "REFRESH_EARLY",
    "REFRESH_LIFETIME_FRACTION",
    "RefreshSession",
    "StoredTokens",
    "TokenManager",
    "TokenRefresher",
    "TokenSet",
    "TokenStore",
    "refresh_due_at",
]

logger = logging.getLogger(__name__)

REFRESH_EARLY = timedelta(minutes=5)
"""Refresh at least this long before the access token expires."""
REFRESH_LIFETIME_FRACTION = 0.8
"""...or once this fraction of its lifetime has passed, whichever comes first."""
_MIN_LIFETIME_FRACTION = 0.5
"""Floor for very short lifetimes (< 10 min), where "5 minutes early" would mean
"immediately" and every call would refresh."""

Clock = Callable[[], datetime]


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC)")


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What a token endpoint granted, with absolute (aware UTC) times.

    ``expires_at`` is ``None`` for a token without expiry (Alpaca); ``refresh_token`` is
    ``None`` when the server issues none; ``refresh_expires_at`` is the refresh token's
    own horizon (Schwab: 7 days after sign-in), ``None`` when it does not expire.
    Secrets are ``SecretStr``: the repr shows ``**********``.
    Raises ``ValueError`` for naive datetimes.
    """

    access_token: SecretStr
    issued_at: datetime
    expires_at: datetime | None = None
    refresh_token: SecretStr | None = None
    refresh_expires_at: datetime | None = None
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - the scheme name

    def __post_init__(self) -> None:
        _require_aware(self.issued_at, "issued_at")
        _require_aware(self.expires_at, "expires_at")
        _require_aware(self.refresh_expires_at, "refresh_expires_at")

    @property
    def refresh_due_at(self) -> datetime | None:
        """When this access token should be replaced (``None``: never)."""
        return refresh_due_at(self.issued_at, self.expires_at)

    @property
    def can_refresh(self) -> bool:
        return self.refresh_token is not None

    def is_due(self, now: datetime) -> bool:
        """Whether ``now`` is at or past ``refresh_due_at``."""
        due = self.refresh_due_at
        return due is not None and now >= due

    def is_expired(self, now: datetime, *, margin: timedelta = timedelta(0)) -> bool:
        """Whether the access token is expired at ``now + margin``."""
        return self.expires_at is not None and now + margin >= self.expires_at

    def refresh_token_expired(self, now: datetime) -> bool:
        """Whether the refresh token's own horizon has passed."""
        return self.refresh_expires_at is not None and now >= self.refresh_expires_at


def refresh_due_at(issued_at: datetime, expires_at: datetime | None) -> datetime | None:
    """The refresh time for a token issued at ``issued_at`` that expires at ``expires_at``.

    The earlier of ``expires_at - 5 min`` and ``issued_at + 80 % of the lifetime``, but
    never before half the lifetime (so a 2-minute token is not refreshed on every call).
    ``None`` when the token never expires.
    """
    if expires_at is None:
        return None
    lifetime = max(expires_at - issued_at, timedelta(0))
    due = min(expires_at - REFRESH_EARLY, issued_at + lifetime * REFRESH_LIFETIME_FRACTION)
    return max(due, issued_at + lifetime * _MIN_LIFETIME_FRACTION)


@dataclass(frozen=True, slots=True)
class StoredTokens:
    """What a ``TokenStore`` holds for one connection."""

    tokens: TokenSet | None
    reauth_required: bool = False
    refresh_attempts: int = 0
    refresh_successes: int = 0

    @property
    def refresh_success_rate(self) -> float | None:
        """Successful refreshes / attempts (``None`` before the first attempt)."""
        if not self.refresh_attempts:
            return None
        return self.refresh_successes / self.refresh_attempts

    @property
    def reauth_due_at(self) -> datetime | None:
        """When the user must sign in again at the latest (the refresh token's horizon)."""
        if self.tokens is None:
            return None
        if self.tokens.refresh_token is None:
            # No refresh token: the sign-in ends when the access token does.
            return self.tokens.expires_at
        return self.tokens.refresh_expires_at


class RefreshSession(Protocol):
    """One locked refresh: every method runs inside the lock's transaction.

    Changes are committed when the ``refresh_lock`` context exits normally and rolled
    back if it exits with an exception.
    """

    async def current(self) -> StoredTokens:
        """The stored tokens, read under the lock (fresh, not cached)."""
        ...

    async def store_refreshed(self, tokens: TokenSet) -> None:
        """Replace the tokens (rotated refresh token included); count attempt + success."""
        ...

    async def record_failure(self, *, reauth_required: bool) -> None:
        """Count a failed attempt; with ``reauth_required`` mark the connection so."""
        ...

    async def mark_reauth_required(self) -> None:
        """Mark the connection ``reauth_required`` without counting an attempt."""
        ...


class TokenStore(Protocol):
    """Where a connection's tokens live, with a cross-process refresh lock.

    Implementations: ``brokerlink.auth.memory_stores.MemoryTokenStore`` (tests, one
    process) and ``brokerlink.auth.token_store.SqlTokenStore`` (SQLite/PostgreSQL, tokens
    sealed by the vault).
    """

    async def load(self, connection_id: str) -> StoredTokens:
        """The stored tokens without locking (``tokens=None`` if there are none)."""
        ...

    async def save(self, connection_id: str, tokens: TokenSet) -> None:
        """Store tokens from a new sign-in; clears ``reauth_required``."""
        ...

    def refresh_lock(self, connection_id: str) -> AbstractAsyncContextManager[RefreshSession]:
        """Exclusive access to the connection's tokens across processes (see module doc)."""
        ...


class TokenRefresher(Protocol):
    """Exchanges a refresh token at the broker (``brokerlink.auth.oauth.OAuthClient``)."""

    async def refresh(self, current: TokenSet) -> TokenSet:
        """New tokens for ``current.refresh_token``.

        Raises ``RefreshTokenRejectedError`` when the refresh token is dead, other
        ``BrokerError``s for transient or configuration failures.
        """
        ...


@dataclass(slots=True)
class _Outcome:
    tokens: TokenSet | None = None
    error: BrokerError | None = None
    changed: bool = False


class TokenManager:
    """The ``CredentialSource`` of one OAuth connection (see the module docstring).

    ``clock`` is injectable for tests. ``min_validity`` is the least remaining lifetime a
    token may have when handed out after a failed (transient) refresh. A 401 arriving
    within ``unauthorized_grace`` of a token change is answered by the change (the
    request carried the previous token) rather than by another refresh. After a
    transient refresh failure the still-valid token is used and the refresh is retried
    no sooner than ``retry_backoff`` later (so a broker outage is not hammered).
    """

    def __init__(
        self,
        connection_id: str,
        store: TokenStore,
        refresher: TokenRefresher,
        *,
        clock: Clock = utc_now,
        broker: str | None = None,
        min_validity: timedelta = timedelta(seconds=60),
        unauthorized_grace: timedelta = timedelta(seconds=10),
        retry_backoff: timedelta = timedelta(seconds=15),
    ) -> None:
        self.connection_id = connection_id
        self._store = store
        self._refresher = refresher
        self._clock = clock
        self._broker = broker
        self._min_validity = min_validity
        self._unauthorized_grace = unauthorized_grace
        self._changed_at: datetime | None = None
        self._retry_backoff = retry_backoff
        self._retry_after: datetime | None = None
        self._lock = asyncio.Lock()
        self._cached: TokenSet | None = None
        self._reauth_required = False
        self._reauth_due_at: datetime | None = None

    def __repr__(self) -> str:
        return f"TokenManager(connection_id={self.connection_id!r}, broker={self._broker!r})"

    @property
    def reauth_due_at(self) -> datetime | None:
        """When the user must sign in again at the latest, as last read from the store."""
        return self._reauth_due_at

    @property
    def reauth_required(self) -> bool:
        """Whether this connection is known to need a new browser sign-in."""
        return self._reauth_required

    async def auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` with a token that is not due.

        Refreshes first when the token is due. Raises ``ReauthRequiredError`` when the
        connection needs a new sign-in (no server request is made then), or a transient
        ``BrokerError`` when a needed refresh failed and the old token is about to expire.
        """
        tokens = await self.current_tokens()
        return {"Authorization": f"Bearer {reveal(tokens.access_token)}"}

    async def on_unauthorized(self) -> bool:
        """After a 401: refresh once unless another task or process already did.

        Returns True when the access token changed (a read may be retried once), False
        when it cannot change (no refresh token). Raises as ``auth_headers`` does.
        """
        self._raise_if_reauth()
        changed_at = self._changed_at
        if changed_at is not None and self._clock() - changed_at < self._unauthorized_grace:
            # The token changed moments ago: this 401 most likely answered a request sent
            # with the previous one (many in flight at once). Retry with the new token
            # instead of rotating again.
            return True
        stale = self._cached
        if stale is None:
            stale = await self._load()
        outcome = await self._refresh(stale_access=stale.access_token, forced=True)
        return outcome.changed

    async def current_tokens(self) -> TokenSet:
        """The tokens ``auth_headers`` would use now (refreshing first if due).

        Raises as ``auth_headers`` does.
        """
        self._raise_if_reauth()
        now = self._clock()
        cached = self._cached
        if cached is None or cached.is_due(now):
            # Cheap unlocked read: another process may have refreshed already.
            cached = await self._load()
        if cached.is_due(now) or cached.is_expired(now):
            if (self._retry_after is not None and now < self._retry_after
                    and not cached.is_expired(now, margin=self._min_validity)):
                return cached  # a refresh just failed transiently: back off a little
            outcome = await self._refresh(stale_access=cached.access_token, forced=False)
            if outcome.tokens is None:  # pragma: no cover - _refresh raises instead
                raise ReauthRequiredError(self._sign_in_message("has no tokens"))
            return outcome.tokens
        return cached

    async def refresh_now(self) -> TokenSet:
        """Refresh unconditionally (unless another process just did); returns the tokens.

        Raises as ``auth_headers`` does.
        """
        self._raise_if_reauth()
        stale = self._cached or await self._load()
        outcome = await self._refresh(stale_access=stale.access_token, forced=True)
        return outcome.tokens or stale

    # --- internals --------------------------------------------------------------------

    def _sign_in_message(self, what: str) -> str:
        return (f"connection {self.connection_id} {what}: sign in again "
                "(`brokerlink connections reauth " f"{self.connection_id}`)")

    def _raise_if_reauth(self) -> None:
        if self._reauth_required:
            raise ReauthRequiredError(
                self._sign_in_message("needs a new sign-in (its refresh token was refused "
                                      "or has expired)"),
                broker=self._broker, connection_id=self.connection_id)

    async def _load(self) -> TokenSet:
        stored = await self._store.load(self.connection_id)
        return self._adopt(stored)

    def _adopt(self, stored: StoredTokens) -> TokenSet:
        self._reauth_due_at = stored.reauth_due_at
        if stored.reauth_required:
            self._reauth_required = True
            self._cached = None
            self._raise_if_reauth()
        if stored.tokens is None:
            raise ReauthRequiredError(
                self._sign_in_message("has no stored tokens"),
                broker=self._broker, connection_id=self.connection_id)
        self._cached = stored.tokens
        return stored.tokens

    async def _refresh(self, *, stale_access: SecretStr, forced: bool) -> _Outcome:
        async with self._lock:
            outcome = await self._refresh_locked(stale_access, forced)
        if outcome.error is not None:
            raise outcome.error
        return outcome

    async def _refresh_locked(self, stale_access: SecretStr, forced: bool) -> _Outcome:
        # Another task of this process may have refreshed while we waited for the lock.
        cached = self._cached
        now = self._clock()
        if (cached is not None and not secrets_equal(cached.access_token, stale_access)
                and not cached.is_due(now)):
            return _Outcome(tokens=cached, changed=True)
        outcome = _Outcome()
        async with self._store.refresh_lock(self.connection_id) as session:
            stored = await session.current()
            await self._decide(session, stored, stale_access, forced, outcome)
        # Only now, with the transaction committed, do new tokens become usable.
        if outcome.error is not None:
            if isinstance(outcome.error, ReauthRequiredError):
                self._reauth_required = True
                self._cached = None
            return outcome
        if outcome.tokens is not None:
            if outcome.changed:
                self._changed_at = self._clock()
                self._retry_after = None
            self._cached = outcome.tokens
            self._reauth_due_at = StoredTokens(outcome.tokens).reauth_due_at
        return outcome

    async def _decide(self, session: RefreshSession, stored: StoredTokens,
                      stale_access: SecretStr, forced: bool, outcome: _Outcome) -> None:
        broker, connection_id = self._broker, self.connection_id
        now = self._clock()
        current = stored.tokens
        if stored.reauth_required or current is None:
            outcome.error = ReauthRequiredError(
                self._sign_in_message("needs a new sign-in"),
                broker=broker, connection_id=connection_id)
            return
        if not secrets_equal(current.access_token, stale_access) and not current.is_due(now) \
                and not current.is_expired(now):
            # Another process refreshed while we waited for the lock: use its result.
            outcome.tokens, outcome.changed = current, True
            return
        if not forced and not current.is_due(now):
            outcome.tokens = current
            return
        if current.refresh_token is None:
            if current.is_expired(now):
                await session.mark_reauth_required()
                outcome.error = ReauthRequiredError(
                    self._sign_in_message("has an expired token and no refresh token"),
                    broker=broker, connection_id=connection_id)
            else:
                outcome.tokens = current  # nothing to refresh with; the token is unchanged
            return
        if current.refresh_token_expired(now):
            await session.mark_reauth_required()
            outcome.error = ReauthRequiredError(
                self._sign_in_message("has a refresh token past its horizon"),
                broker=broker, connection_id=connection_id)
            return
        try:
            fresh = await self._refresher.refresh(current)
        except RefreshTokenRejectedError as exc:
            await session.record_failure(reauth_required=True)
            outcome.error = ReauthRequiredError(
                self._sign_in_message("had its refresh token refused by the broker"),
                broker=broker, connection_id=connection_id, broker_code=exc.broker_code)
            outcome.error.__cause__ = exc
            return
        except BrokerError as exc:
            await session.record_failure(reauth_required=False)
            if not current.is_expired(now, margin=self._min_validity) and not forced:
                # Refresh-ahead leaves slack: keep using the still-valid token for now.
                logger.warning("connection %s: token refresh failed (%s); using the current "
                               "token until it nears expiry", self.connection_id,
                               type(exc).__name__)
                self._retry_after = now + self._retry_backoff
                outcome.tokens = current
                return
            outcome.error = exc
            return
        if fresh.refresh_token is None:
            # The server did not rotate: the old refresh token stays valid.
            fresh = replace(fresh, refresh_token=current.refresh_token,
                            refresh_expires_at=fresh.refresh_expires_at
                            or current.refresh_expires_at)
        await session.store_refreshed(fresh)
        outcome.tokens, outcome.changed = fresh, True
