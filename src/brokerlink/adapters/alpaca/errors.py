"""Alpaca's error answers -> core errors, in one table (``REFERENCE.md`` section 6).

Alpaca overloads its codes (40310000 covers buying power, quantity, shorting...), so a
rule matches on HTTP status, then code, then words in the message, then the operation.
The first matching rule wins; no match falls through to ``default_error_for``. The
broker's own message is kept in every error (already redacted by the transport).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from brokerlink.adapters._shared import ErrorResponse, error_message, redact_text
from brokerlink.adapters._shared.ratelimit import retry_after_from_headers
from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SymbolNotFoundError,
)
from brokerlink.core.values import utc_now

ORDER_LOOKUPS = frozenset({"get_order", "get_order_by_client_id", "cancel_order",
                           "replace_order"})
SYMBOL_LOOKUPS = frozenset({"get_asset", "get_stock_quote", "get_stock_trade",
                            "get_position"})

_ASSET_NOT_FOUND = re.compile(r'asset "?([^"]*)"? not found', re.IGNORECASE)

Build = Callable[[ErrorResponse, str], BrokerError]


@dataclass(frozen=True)
class Rule:
    """One row: when ``status`` (and ``code``, a ``words`` substring of the message, an
    ``operations`` member, where given) match, ``build`` makes the error."""

    status: int
    build: Build
    code: int | None = None
    words: str | None = None
    operations: frozenset[str] | None = None

    def matches(self, response: ErrorResponse, code: int | None, message: str) -> bool:
        return (response.status == self.status
                and (self.code is None or self.code == code)
                and (self.words is None or self.words in message.lower())
                and (self.operations is None or response.operation in self.operations))


def _decimal(body: object, key: str) -> Decimal | None:
    if not isinstance(body, dict) or body.get(key) is None:
        return None
    try:
        return Decimal(str(body[key]))
    except InvalidOperation:
        return None


def _unauthorized(r: ErrorResponse, text: str) -> BrokerError:
    return AuthError(f"{text}. Alpaca refused the API key or OAuth token: check that it is "
                     "right and for this environment (paper and live keys differ)",
                     **r.context())


def _funds(r: ErrorResponse, text: str) -> BrokerError:
    return InsufficientFundsError(f"{text}. Reduce the order or add funds",
                                  required=_decimal(r.body, "cost_basis"),
                                  available=_decimal(r.body, "buying_power"), **r.context())


def _quantity(r: ErrorResponse, text: str) -> BrokerError:
    return InvalidOrderError(f"{text}. Sell no more than the position's available quantity",
                             field="quantity", **r.context())


def _denied(r: ErrorResponse, text: str) -> BrokerError:
    return PermissionDeniedError(text, **r.context())


def _unknown_symbol(r: ErrorResponse, text: str) -> BrokerError:
    found = _ASSET_NOT_FOUND.search(error_message(r.body) or "")
    return SymbolNotFoundError(f"{text}. Check the symbol", symbol=found.group(1) if found
                               else None, **r.context())


def _duplicate(r: ErrorResponse, text: str) -> BrokerError:
    return DuplicateOrderError(f"{text}. An order with this client order id exists: look it "
                               "up instead of resending", client_order_id=r.client_order_id,
                               **r.context())


def _closed(r: ErrorResponse, text: str) -> BrokerError:
    return MarketClosedError(f"{text}. Use a limit order or wait for the open",
                             **r.context())


def _invalid(r: ErrorResponse, text: str) -> BrokerError:
    return InvalidOrderError(f"{text}. Fix the request; do not resend it as is",
                             **r.context())


def _order_missing(r: ErrorResponse, text: str) -> BrokerError:
    return OrderNotFoundError(text, **r.context())


def _symbol_missing(r: ErrorResponse, text: str) -> BrokerError:
    return SymbolNotFoundError(f"{text}. Check the symbol", **r.context())


def _rate_limited(r: ErrorResponse, text: str) -> BrokerError:
    return RateLimitError(f"{text}. Alpaca allows 200 requests a minute; slow down",
                          retry_after=retry_after_from_headers(r.headers, now=utc_now()),
                          **r.context())


RULES: tuple[Rule, ...] = (
    Rule(401, _unauthorized),
    Rule(403, _funds, code=40310000, words="buying power"),
    Rule(403, _quantity, code=40310000, words="qty"),
    Rule(403, _denied),
    Rule(422, _unknown_symbol, words="not found"),
    Rule(422, _duplicate, code=40010001, words="client_order_id"),
    Rule(422, _closed, words="only allowed during market hours"),
    Rule(422, _invalid),
    Rule(400, _invalid),
    Rule(404, _order_missing, operations=ORDER_LOOKUPS),
    Rule(404, _symbol_missing, operations=SYMBOL_LOOKUPS),
    Rule(429, _rate_limited),
)


def map_error(response: ErrorResponse) -> BrokerError | None:
    """The core error for an Alpaca error response, or None for the transport's default
    (5xx and anything unrecognised). Never raises."""
    code_text = response.body.get("code") if isinstance(response.body, dict) else None
    try:
        code = int(code_text) if code_text is not None else None
    except (TypeError, ValueError):
        code = None
    message = error_message(response.body) or ""
    # The transport already scrubbed known secrets from the parsed body; credential-like
    # patterns are scrubbed here too before the broker's words go into a message.
    said = redact_text(message, ()) if message else (response.text or "no body")
    text = f"Alpaca {response.operation} failed (HTTP {response.status}): {said}"
    for rule in RULES:
        if rule.matches(response, code, message):
            return rule.build(response, text)
    return None
