"""Tradier's error bodies and statuses -> core errors, in one ``ErrorRules`` table.

Tradier reports errors as ``{"errors": {"error": "<message>"}}`` (or a list of
messages) with HTTP 400 for validation, and **HTTP 200** for downstream (risk, account)
rejections of place/change/cancel (REFERENCE.md section 5). Both resolve through
``RULES`` (the client hands a 200 ``errors`` body to ``rejection``); the most specific
matching row wins, and the broker's own message is kept in the error. 401 is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from brokerlink.adapters._shared.error_rules import ErrorRule, ErrorRules
from brokerlink.adapters._shared.errors import ORDER_OPERATIONS, ErrorResponse
from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SymbolNotFoundError,
)

from .wire import many

BROKER = "tradier"

REFUSALS = (200, *(s for s in range(400, 500) if s not in (401, 429)))
"""Statuses whose ``errors`` body is read for a reason: 200 (a downstream rejection of
an order) and the client errors that have no rule of their own."""

_CODE = re.compile(r"\b([A-Z][a-z]+(?:[A-Z][a-z0-9]+)+)\b")
"""Tradier's documented codes are CamelCase words (``AccountIsNotApproved``)."""


def error_messages(body: object) -> list[str] | None:
    """The messages of an ``errors`` body, or None if ``body`` has none."""
    if not isinstance(body, Mapping) or "errors" not in body:
        return None
    errors = body["errors"]
    raw = errors.get("error") if isinstance(errors, Mapping) else errors
    return [str(m).strip() for m in many(raw) if str(m).strip()] or ["unspecified error"]


def error_text(body: object) -> str | None:
    """All of an ``errors`` body's messages as one line (the table's ``message_of``)."""
    messages = error_messages(body)
    return "; ".join(messages) if messages is not None else None


def error_code(body: object) -> str | None:
    """The first CamelCase code in the messages (``AccountIsNotApproved``), if any."""
    said = error_text(body)
    found = _CODE.search(said) if said else None
    return found.group(1) if found else None


RULES = ErrorRules("Tradier", [
    # Also what a sandbox token gets on the live host (and the reverse).
    ErrorRule(AuthError, status=401,
              hint="Check the token and that it is for this host (sandbox and live tokens "
                   "differ), or sign in again"),
    ErrorRule(RateLimitError, status=429,
              hint="Rate limited: wait for the one-minute window to reset"),
    ErrorRule(OrderNotFoundError, status=404, operations=ORDER_OPERATIONS,
              hint="Tradier has no such order"),
    ErrorRule(InsufficientFundsError, status=REFUSALS,
              message=r"buying power|insufficient|not enough (cash|funds)|"
                      r"DayTradingBuyingPowerExceeded",
              hint="Add funds or reduce the order"),
    ErrorRule(SymbolNotFoundError, status=REFUSALS,
              message=r"symbol not found|invalid symbol|unknown symbol|"
                      r"ExpirationDateUndefined",
              hint="Check the symbol"),
    ErrorRule(OrderNotFoundError, status=REFUSALS,
              message=r"order not found|no such order|order does not exist"),
    ErrorRule(PermissionDeniedError, status=REFUSALS,
              message=r"AccountDisabled|AccountIsNotApproved|"
                      r"AssetTradingNotConfiguredForAccount|DayTraderPatternRestriction|"
                      r"not approved|not permitted|permission",
              hint="The account is not allowed to do this"),
    ErrorRule(MarketClosedError, status=REFUSALS, message=r"market is closed|MarketClosed",
              hint="Wait for the market to open"),
    # Any other refusal: the order or request was refused as it stands.
    ErrorRule(InvalidOrderError, status=(200, 400, 422),
              hint="Fix the order; do not resend it as is"),
], code_of=error_code, message_of=error_text)


def map_error(response: ErrorResponse) -> BrokerError:
    """The transport's ``ErrorMapper`` for Tradier (``RULES``, with Tradier's code
    filled in). Never raises."""
    error = RULES(response)
    if error.broker_code is None:
        # ErrorRule.build takes the code from the shared body shapes; Tradier's code is
        # a word inside its message.
        error.broker_code = error_code(response.body)
    return error


def rejection(response: ErrorResponse, *, symbol: str | None = None,
              order_id: str | None = None) -> BrokerError:
    """The typed error for an ``errors`` body (any status, 200 included), naming the
    ``symbol`` or ``order_id`` the request was about."""
    error = map_error(response)
    if isinstance(error, SymbolNotFoundError) and error.symbol is None:
        error.symbol = symbol
    if isinstance(error, OrderNotFoundError) and error.order_id is None:
        error.order_id = order_id
    return error


__all__ = ["RULES", "error_code", "error_messages", "error_text", "map_error", "rejection"]
