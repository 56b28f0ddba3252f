"""Alpaca's error answers -> core errors, as one ``ErrorRules`` table
(``REFERENCE.md`` section 6).

Alpaca overloads its codes (40310000 covers buying power, quantity, shorting...), so rows
combine HTTP status, code, words of the message and the operation; the most specific
matching row wins and no match falls back to ``default_error_for`` (5xx among others).
The broker's own message is kept in every error (redacted).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from brokerlink.adapters._shared.error_rules import ErrorRule, ErrorRules
from brokerlink.adapters._shared.errors import ErrorResponse, error_message
from brokerlink.core.errors import (
    AuthError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SymbolNotFoundError,
)

ORDER_LOOKUPS = frozenset({"get_order", "get_order_by_client_id", "cancel_order",
                           "replace_order"})
SYMBOL_LOOKUPS = frozenset({"get_asset", "get_stock_quote", "get_stock_trade",
                            "get_position"})

_ASSET_NOT_FOUND = re.compile(r'asset "?([^"]*)"? not found', re.IGNORECASE)


def _decimal(body: object, key: str) -> Decimal | None:
    if not isinstance(body, dict) or body.get(key) is None:
        return None
    try:
        value = Decimal(str(body[key]))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _amounts(response: ErrorResponse) -> dict[str, Any]:
    return {"required": _decimal(response.body, "cost_basis"),
            "available": _decimal(response.body, "buying_power")}


def _symbol(response: ErrorResponse) -> dict[str, Any]:
    found = _ASSET_NOT_FOUND.search(error_message(response.body) or "")
    return {"symbol": found.group(1) if found else None}


def _quantity(response: ErrorResponse) -> dict[str, Any]:
    return {"field": "quantity"}


RULES = ErrorRules("Alpaca", [
    ErrorRule(AuthError, status=401,
              hint="Alpaca refused the API key or OAuth token: check that it is right and "
                   "for this environment (paper and live keys differ)"),
    ErrorRule(InsufficientFundsError, status=403, code=40310000, message="buying power",
              hint="Reduce the order or add funds", extras=_amounts),
    ErrorRule(InvalidOrderError, status=403, code=40310000, message="qty",
              hint="Sell no more than the position's available quantity", extras=_quantity),
    ErrorRule(PermissionDeniedError, status=403),
    ErrorRule(SymbolNotFoundError, status=422, message="not found", hint="Check the symbol",
              extras=_symbol),
    ErrorRule(DuplicateOrderError, status=422, code=40010001, message="client_order_id",
              hint="An order with this client order id exists: look it up instead of "
                   "resending"),
    ErrorRule(MarketClosedError, status=422, message="only allowed during market hours",
              hint="Use a limit order or wait for the open"),
    ErrorRule(InvalidOrderError, status=(400, 422),
              hint="Fix the request; do not resend it as is"),
    ErrorRule(OrderNotFoundError, status=404, operations=ORDER_LOOKUPS),
    ErrorRule(SymbolNotFoundError, status=404, operations=SYMBOL_LOOKUPS,
              hint="Check the symbol"),
    ErrorRule(RateLimitError, status=429,
              hint="Alpaca allows 200 requests a minute; slow down"),
])
"""Alpaca's error table; the transport's ``error_mapper``."""

map_error = RULES
"""The table as an ``ErrorMapper``: the core error for an Alpaca error response, never
None (unmatched responses get ``default_error_for``). Never raises."""

__all__ = ["ORDER_LOOKUPS", "RULES", "SYMBOL_LOOKUPS", "map_error"]
