"""Tradier's error bodies and statuses -> core errors, in one table.

Tradier reports errors as ``{"errors": {"error": "<message>"}}`` (or a list of
messages) with HTTP 400 for validation, and **HTTP 200** for downstream (risk, account)
rejections of place/change/cancel (REFERENCE.md section 5). Both go through
``classify``; the broker's own message is kept in the error. 401 is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from brokerlink.adapters._shared import ErrorResponse, retry_after_from_headers
from brokerlink.adapters._shared.errors import ORDER_OPERATIONS
from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    ErrorContext,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SymbolNotFoundError,
)
from brokerlink.core.values import utc_now

from .wire import many

BROKER = "tradier"

RULES: tuple[tuple[re.Pattern[str], type[BrokerError]], ...] = (
    (re.compile(r"buying power|insufficient|not enough (cash|funds)|"
                r"DayTradingBuyingPowerExceeded", re.I), InsufficientFundsError),
    (re.compile(r"symbol not found|invalid symbol|unknown symbol|"
                r"ExpirationDateUndefined", re.I), SymbolNotFoundError),
    (re.compile(r"order not found|no such order|order does not exist", re.I),
     OrderNotFoundError),
    (re.compile(r"AccountDisabled|AccountIsNotApproved|AssetTradingNotConfiguredForAccount|"
                r"DayTraderPatternRestriction|not approved|not permitted|permission", re.I),
     PermissionDeniedError),
    (re.compile(r"market is closed|MarketClosed", re.I), MarketClosedError),
)
"""First match wins; a message matching none is an ``InvalidOrderError`` (the order or
request was refused as it stands)."""

_CODE = re.compile(r"\b([A-Z][a-z]+(?:[A-Z][a-z0-9]+)+)\b")
"""Tradier's documented codes are CamelCase words (``AccountIsNotApproved``)."""


def error_messages(body: object) -> list[str] | None:
    """The messages of an ``errors`` body, or None if ``body`` has none."""
    if not isinstance(body, Mapping) or "errors" not in body:
        return None
    errors = body["errors"]
    raw = errors.get("error") if isinstance(errors, Mapping) else errors
    return [str(m).strip() for m in many(raw) if str(m).strip()] or ["unspecified error"]


def classify(messages: list[str], *, operation: str, context: ErrorContext,
             symbol: str | None = None, order_id: str | None = None) -> BrokerError:
    """The typed error for Tradier's ``messages`` (see ``RULES``)."""
    said = "; ".join(messages)
    code = _CODE.search(said)
    if code and context.get("broker_code") is None:
        context = ErrorContext(**{**context, "broker_code": code.group(1)})
    message = f"Tradier refused {operation}: {said}"
    for pattern, kind in RULES:
        if not pattern.search(said):
            continue
        if kind is InsufficientFundsError:
            return InsufficientFundsError(f"{message}. Add funds or reduce the order",
                                          **context)
        if kind is SymbolNotFoundError:
            return SymbolNotFoundError(message, symbol=symbol, **context)
        if kind is OrderNotFoundError:
            return OrderNotFoundError(message, order_id=order_id, **context)
        if kind is MarketClosedError:
            return MarketClosedError(message, **context)
        return kind(message, **context)
    return InvalidOrderError(f"{message}. Fix the order; do not resend it as is", **context)


def map_error(response: ErrorResponse) -> BrokerError | None:
    """The transport's ``ErrorMapper`` for Tradier: None falls back to the default."""
    context = response.context()
    if response.status == 401:
        # Also what a sandbox token gets on the live host (and the reverse).
        return AuthError(
            f"Tradier refused the access token for {response.operation} (HTTP 401: "
            f"{response.text.strip() or 'no body'}). Check the token and that it is for "
            "this host (sandbox and live tokens differ), or sign in again", **context)
    if response.status == 429:
        return RateLimitError(
            f"Tradier rate limit reached on {response.operation}; wait for the "
            "one-minute window to reset", retry_after=retry_after_from_headers(
                response.headers, now=utc_now()), **context)
    messages = error_messages(response.body)
    if response.status == 404 and response.operation in ORDER_OPERATIONS:
        said = "; ".join(messages or [response.text.strip() or "order not found"])
        return OrderNotFoundError(f"Tradier has no such order ({response.operation}): {said}",
                                  **context)
    if messages is not None and 400 <= response.status < 500:
        return classify(messages, operation=response.operation, context=context)
    return None


def context_for(*, http_status: int, connection_id: str | None,
                request_id: str | None = None) -> ErrorContext:
    return ErrorContext(broker=BROKER, connection_id=connection_id, http_status=http_status,
                        request_id=request_id)
