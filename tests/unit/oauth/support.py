"""Test doubles for the OAuth unit tests: a settable clock and a scripted refresher."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from brokerlink.auth.oauth_errors import RefreshTokenRejectedError
from brokerlink.auth.tokens import TokenSet
from brokerlink.core.errors import BrokerError

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class RefreshCall:
    at: datetime
    presented: str


@dataclass
class FakeRefresher:
    """Issues rotating tokens like a strict server: a stale refresh token is refused.

    ``fail_with`` makes the next call raise; ``gate`` (if set) is awaited inside each
    call so tests can hold a refresh open while others queue.
    """

    clock: FakeClock
    lifetime: timedelta | None = timedelta(minutes=30)
    rotate: bool = True
    current_refresh: str = ""
    calls: list[RefreshCall] = field(default_factory=list)
    fail_with: BrokerError | None = None
    gate: asyncio.Event | None = None
    issued: list[TokenSet] = field(default_factory=list)

    def initial(self) -> TokenSet:
        """Tokens as a sign-in would have produced them, now."""
        self.current_refresh = secrets.token_urlsafe(16)
        tokens = self._tokens(SecretStr(self.current_refresh))
        self.issued.append(tokens)
        return tokens

    def _tokens(self, refresh: SecretStr | None) -> TokenSet:
        now = self.clock()
        return TokenSet(
            access_token=SecretStr(secrets.token_urlsafe(16)), issued_at=now,
            expires_at=now + self.lifetime if self.lifetime is not None else None,
            refresh_token=refresh, refresh_expires_at=None, scope="api")

    async def refresh(self, current: TokenSet) -> TokenSet:
        assert current.refresh_token is not None
        presented = current.refresh_token.get_secret_value()
        self.calls.append(RefreshCall(self.clock(), presented))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        if presented != self.current_refresh:
            raise RefreshTokenRejectedError("reused refresh token", broker_code="invalid_grant")
        new_refresh: SecretStr | None = None
        if self.rotate:
            self.current_refresh = secrets.token_urlsafe(16)
            new_refresh = SecretStr(self.current_refresh)
        tokens = self._tokens(new_refresh)
        self.issued.append(tokens)
        return tokens
