"""Tradier settings: hosts (live, sandbox, emulator) and documented rate limits.

Sources: REFERENCE.md sections 1 (hosts) and 6 (rate limits). OAuth endpoints, scopes
and the token lifetime live in ``spec.py`` (``SPEC.oauth``), their one home.

``TradierConfig`` is frozen; build one with ``TradierConfig.live()``, ``.sandbox()``,
``.emulator(url)`` or ``.for_base_url(url)``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from brokerlink.adapters._shared import RateLimiter, RateLimits

from .spec import LIVE_API, SANDBOX_API

LIVE_ACCOUNT_STREAM = "wss://ws.tradier.com/v1/accounts/events"
SANDBOX_ACCOUNT_STREAM = "wss://sandbox-ws.tradier.com/v1/accounts/events"


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


class RateLimitTable(BaseModel):
    """Requests allowed per ``WINDOW`` in each of Tradier's buckets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    standard: int
    market_data: int
    trading: int


LIVE_LIMITS = RateLimitTable(standard=120, market_data=120, trading=60)
SANDBOX_LIMITS = RateLimitTable(standard=60, market_data=60, trading=60)
WINDOW = timedelta(minutes=1)


class TradierConfig(BaseModel):
    """Where and how fast to talk to Tradier. ``base_url`` ends in ``/v1``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment
    base_url: str
    account_stream_url: str
    limits: RateLimitTable

    @classmethod
    def live(cls) -> TradierConfig:
        return cls(environment=Environment.LIVE, base_url=LIVE_API,
                   account_stream_url=LIVE_ACCOUNT_STREAM, limits=LIVE_LIMITS)

    @classmethod
    def sandbox(cls) -> TradierConfig:
        return cls(environment=Environment.SANDBOX, base_url=SANDBOX_API,
                   account_stream_url=SANDBOX_ACCOUNT_STREAM, limits=SANDBOX_LIMITS)

    @classmethod
    def emulator(cls, server_url: str) -> TradierConfig:
        """An emulator at ``server_url`` (``http://127.0.0.1:PORT``); it enforces the
        production limits."""
        root = server_url.rstrip("/")
        ws = root.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return cls(environment=Environment.EMULATOR, base_url=f"{root}/v1",
                   account_stream_url=f"{ws}/v1/accounts/events", limits=LIVE_LIMITS)

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


__all__ = ["LIVE_ACCOUNT_STREAM", "LIVE_API", "LIVE_LIMITS", "SANDBOX_ACCOUNT_STREAM",
           "SANDBOX_API", "SANDBOX_LIMITS", "WINDOW", "Bucket", "Environment",
           "RateLimitTable", "TradierConfig"]
