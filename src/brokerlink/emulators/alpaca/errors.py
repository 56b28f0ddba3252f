"""Alpaca's error answers, as the emulator sends them.

Bodies follow ``REFERENCE.md`` section 6 (``{"code": <int>, "message": <str>, ...}``;
401 is ``{"message": "unauthorized."}`` with no code). ``AlpacaError`` carries one
answer; ``from_engine`` turns the engine's typed refusals into Alpaca's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from brokerlink.core.errors import (
    BrokerError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    SymbolNotFoundError,
)
from brokerlink.emulators.alpaca.serialize import decimal_text
from brokerlink.emulators.alpaca.spec import (
    INTERNAL_ERROR_BODY,
    RATE_LIMIT_BODY,
    UNAUTHORIZED_BODY,
)

__all__ = ["INTERNAL_ERROR_BODY", "RATE_LIMIT_BODY", "UNAUTHORIZED_BODY", "AlpacaError",
           "from_engine", "insufficient_qty", "invalid_field", "not_found", "unprocessable"]

FORBIDDEN = 40310000
UNPROCESSABLE = 42210000
BAD_REQUEST = 40010001
NOT_FOUND = 40410000


class AlpacaError(Exception):
    """An Alpaca error answer: HTTP ``status`` and JSON ``body``."""

    def __init__(self, status: int, code: int | None, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = ({"code": code} if code is not None else {}) | {
            "message": message, **extra}


def not_found(message: str = "order not found") -> AlpacaError:
    return AlpacaError(404, NOT_FOUND, message)


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, UNPROCESSABLE, message)


def invalid_field(message: str) -> AlpacaError:
    """A request value Alpaca cannot parse or take: 422 with code 40010001, the code
    its OpenAPI spec shows for a request parameter that is missing or invalid
    (``{"code":40010001,"message":"failed to parse after"}``)."""
    return AlpacaError(422, BAD_REQUEST, message)


def insufficient_qty(requested: Decimal, available: Decimal) -> AlpacaError:
    return AlpacaError(
        403, FORBIDDEN, f"insufficient qty available for order (requested: "
        f"{decimal_text(requested)}, available: {decimal_text(available)})",
        available=decimal_text(available))


def from_engine(exc: BrokerError, *, symbol: str | None = None) -> AlpacaError:
    """The answer Alpaca gives for what the engine refused."""
    if isinstance(exc, InsufficientFundsError):
        extra: dict[str, Any] = {}
        if exc.available is not None:
            extra["buying_power"] = decimal_text(exc.available)
        if exc.required is not None:
            extra["cost_basis"] = decimal_text(exc.required)
        return AlpacaError(403, FORBIDDEN, "insufficient buying power", **extra)
    if isinstance(exc, SymbolNotFoundError):
        return unprocessable(f'asset "{exc.symbol or symbol or ""}" not found')
    if isinstance(exc, DuplicateOrderError):
        return AlpacaError(422, BAD_REQUEST, "client_order_id must be unique")
    if isinstance(exc, OrderNotFoundError):
        return not_found()
    if isinstance(exc, PermissionDeniedError):
        return AlpacaError(403, FORBIDDEN, exc.message)
    if isinstance(exc, MarketClosedError | InvalidOrderError):
        return unprocessable(exc.message)
    return AlpacaError(500, None, "Internal Server Error")
