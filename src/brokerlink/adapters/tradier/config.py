"""Tradier settings: hosts (live, sandbox, emulator), documented rate limits, OAuth URLs.

Sources: REFERENCE.md sections 1 (hosts), 2 (OAuth) and 6 (rate limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from brokerlink.adapters._shared import RateLimiter, RateLimits

LIVE_API = "https://api.tradier.com/v1"
SANDBOX_API = "https://sandbox.tradier.com/v1"
LIVE_ACCOUNT_STREAM = "wss://ws.tradier.com/v1/accounts/events"
SANDBOX_ACCOUNT_STREAM = "wss://sandbox-ws.tradier.com/v1/accounts/events"

OAUTH_AUTHORIZE_URL = "https://api.tradier.com/v1/oauth/authorize"
OAUTH_TOKEN_URL = "https://api.tradier.com/v1/oauth/accesstoken"  # noqa: S105  (a URL)
OAUTH_REFRESH_URL = "https://api.tradier.com/v1/oauth/refreshtoken"
OAUTH_SCOPES = ("read", "write", "market", "trade", "stream")
ACCESS_TOKEN_LIFETIME = timedelta(hours=24)
"""Tradier access tokens expire after 24 hours, no exceptions."""


class Bucket(StrEnum):
    """Tradier's separate rate-limit windows."""

    STANDARD = "standard"
    """``/accounts``, ``/watchlists``, ``/user`` and order reads."""
    MARKET_DATA = "market_data"
    """``/markets/...``."""
    TRADING = "trading"
    """Place, change and cancel."""


class Environment(StrEnum):
    LIVE = "live"
    SANDBOX = "sandbox"
    EMULATOR = "emulator"


@dataclass(frozen=True, slots=True)
class RateLimitTable:
    standard: int
    market_data: int
    trading: int


LIVE_LIMITS = RateLimitTable(standard=120, market_data=120, trading=60)
SANDBOX_LIMITS = RateLimitTable(standard=60, market_data=60, trading=60)
WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TradierConfig:
    """Where and how fast to talk to Tradier. ``base_url`` ends in ``/v1``."""

    environment: Environment
    base_url: str
    account_stream_url: str
    limits: RateLimitTable

    @classmethod
    def live(cls) -> TradierConfig:
        return cls(Environment.LIVE, LIVE_API, LIVE_ACCOUNT_STREAM, LIVE_LIMITS)

    @classmethod
    def sandbox(cls) -> TradierConfig:
        return cls(Environment.SANDBOX, SANDBOX_API, SANDBOX_ACCOUNT_STREAM, SANDBOX_LIMITS)

    @classmethod
    def emulator(cls, server_url: str) -> TradierConfig:
        """An emulator at ``server_url`` (``http://127.0.0.1:PORT``); it enforces the
        production limits."""
        root = server_url.rstrip("/")
        ws = root.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return cls(Environment.EMULATOR, f"{root}/v1", f"{ws}/v1/accounts/events",
                   LIVE_LIMITS)

    @classmethod
    def for_base_url(cls, base_url: str | None, *, sandbox: bool = False) -> TradierConfig:
        """Live or sandbox by default; any other ``base_url`` (with or without ``/v1``)
        is taken to be an emulator or proxy."""
        if base_url is None:
            return cls.sandbox() if sandbox else cls.live()
        root = base_url.rstrip("/").removesuffix("/v1")
        if f"{root}/v1" == LIVE_API:
            return cls.live()
        if f"{root}/v1" == SANDBOX_API:
            return cls.sandbox()
        return cls.emulator(root)

    def rate_limits(self) -> RateLimits:
        """Fresh token buckets, one per Tradier window (one set per connection)."""
        return RateLimits({
            Bucket.STANDARD.value: RateLimiter(self.limits.standard, WINDOW),
            Bucket.MARKET_DATA.value: RateLimiter(self.limits.market_data, WINDOW),
            Bucket.TRADING.value: RateLimiter(self.limits.trading, WINDOW),
        })
