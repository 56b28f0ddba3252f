"""The Alpaca emulator's ``EmulatorSpec``: what the shared framework needs to know.

Values follow ``../shared/specs/alpaca/REFERENCE.md``: errors are
``{"code": <int>, "message": <str>}`` (section 6; unknown routes use the not-found code
``40410000``); the trading API allows 200 requests per minute per account (the
market-data API, free plan, 200 more) and sends ``X-RateLimit-Limit``/``-Remaining``/
``-Reset`` (unix seconds) on every answer; a 429 is ``{"code": 42910000, "message":
"rate limit exceeded"}`` (section 7). Cheap to import: the app is loaded only when built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.ratelimit import RateLimitPolicy, RateState
from brokerlink.emulators._shared.spec import AppFactory, EmulatorSpec
from brokerlink.emulators.alpaca.oauth import OAUTH

RATE_LIMIT_PER_MINUTE = 200
UNAUTHORIZED_BODY = {"message": "unauthorized."}
RATE_LIMIT_BODY = {"code": 42910000, "message": "rate limit exceeded"}
INTERNAL_ERROR_BODY = {"message": "Internal Server Error"}

# Alpaca's codes are the HTTP status followed by five digits (40410000, 42210000, ...).
_CODES = {400: 40010000, 403: 40310000, 404: 40410000, 405: 40510000, 422: 42210000,
          429: 42910000}


def error_body(status: int, message: str) -> Any:
    """An Alpaca error body: ``{"code", "message"}``; 5xx carry no code."""
    if status >= 500:
        return {"message": message}
    return {"code": _CODES.get(status, status * 100_000), "message": message}


def rate_headers(state: RateState) -> Mapping[str, str]:
    return {"X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(math.ceil(state.resets))}


def bucket_for(method: str, path: str) -> str:
    """The market-data API (another host at Alpaca, served here too) has its own budget."""
    if path.startswith(("/v2/stocks", "/v1beta1/")):
        return "market_data"
    return "trading"


RATE_LIMIT = RateLimitPolicy(
    limits={"trading": RATE_LIMIT_PER_MINUTE, "market_data": RATE_LIMIT_PER_MINUTE},
    window_seconds=60.0, bucket_for=bucket_for, headers=rate_headers,
    rejected_body=RATE_LIMIT_BODY)

EMULATOR = EmulatorSpec(
    broker_type=BrokerType.ALPACA,
    create_app=AppFactory("brokerlink.emulators.alpaca.app:create_app"),
    display_name="Alpaca (trading API v2, market data, trade_updates)",
    oauth=OAUTH,
    rate_limit=RATE_LIMIT,
    error_body=error_body,
    fault_bodies={429: RATE_LIMIT_BODY, 500: INTERNAL_ERROR_BODY,
                  502: INTERNAL_ERROR_BODY, 503: INTERNAL_ERROR_BODY},
)
