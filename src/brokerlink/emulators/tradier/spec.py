"""The Tradier emulator's ``EmulatorSpec``: what the shared framework needs to know.

Values follow ``../shared/specs/tradier/REFERENCE.md``: errors are
``{"errors": {"error": <message>}}`` (section 5; used for unknown routes too); limits are
per access token and one-minute window starting at the first request, 120 standard,
120 market data and 60 trading requests (production figures, section 6), reported as
``X-Ratelimit-Allowed``/``-Used``/``-Available``/``-Expiry`` (epoch *milliseconds*); an
exceeded window is refused with 429 (body undocumented: plain ``Rate limit exceeded``).
Cheap to import: the app is loaded only when built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.ratelimit import RateLimitPolicy, RateState
from brokerlink.emulators._shared.spec import AppFactory, EmulatorSpec
from brokerlink.emulators.tradier.oauth import OAUTH

RATE_LIMIT_TEXT = "Rate limit exceeded"
LIMITS: dict[str, int] = {"standard": 120, "market_data": 120, "trading": 60}
"""Production limits per access token and minute (REFERENCE.md section 6)."""


def errors_body(*messages: str) -> dict[str, Any]:
    """Tradier's error body: one message as a string, several as a list."""
    return {"errors": {"error": messages[0] if len(messages) == 1 else list(messages)}}


def error_body(status: int, message: str) -> Any:
    return errors_body(message)


def bucket_for(method: str, path: str) -> str:
    if path.startswith("/v1/markets"):
        return "market_data"
    if method in ("POST", "PUT", "DELETE") and "/orders" in path:
        return "trading"
    return "standard"


def rate_headers(state: RateState) -> Mapping[str, str]:
    return {"X-Ratelimit-Allowed": str(state.limit),
            "X-Ratelimit-Used": str(min(state.used, state.limit)),
            "X-Ratelimit-Available": str(state.remaining),
            "X-Ratelimit-Expiry": str(int(state.resets * 1000))}


RATE_LIMIT = RateLimitPolicy(limits=LIMITS, window_seconds=60.0, bucket_for=bucket_for,
                             headers=rate_headers, rejected_body=RATE_LIMIT_TEXT)

EMULATOR = EmulatorSpec(
    broker_type=BrokerType.TRADIER,
    create_app=AppFactory("brokerlink.emulators.tradier.app:create_app"),
    display_name="Tradier (brokerage API v1, account events stream)",
    oauth=OAUTH,
    rate_limit=RATE_LIMIT,
    error_body=error_body,
    fault_bodies={429: errors_body(RATE_LIMIT_TEXT),
                  500: errors_body("Internal server error"),
                  502: errors_body("Bad gateway"),
                  503: errors_body("Service unavailable")},
)
