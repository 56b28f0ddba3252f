"""The error taxonomy: every failure says what is safe to do next.

Errors split by recovery (after CCXT's tree): rejected (do not retry), transient
(safe to retry a read), ambiguous (a write whose outcome is unknown) and
authentication. Each carries the broker, connection, HTTP status, broker code and
request id where known, and a message a user can act on. No secret is ever part of
an error: callers pass redacted text only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypedDict, Unpack


class Recovery(StrEnum):
    """What a caller should do after an error."""

    FIX_REQUEST = "fix_request"
    RETRY_WITH_BACKOFF = "retry_with_backoff"
    WAIT_FOR_MARKET_OPEN = "wait_for_market_open"
    RECONCILE = "reconcile"
    REAUTHENTICATE = "reauthenticate"
    USER_ACTION = "user_action"
    NONE = "none"


class ErrorContext(TypedDict, total=False):
    """Where an error came from; every key optional."""

    broker: str | None
    connection_id: str | None
    http_status: int | None
    broker_code: str | None
    request_id: str | None


class BrokerError(Exception):
    """Root of every brokerlink error.

    ``retryable`` says whether repeating the same *read* may succeed; writes are never
    retried blindly whatever it says.
    """

    retryable: bool = False
    recovery: Recovery = Recovery.NONE

    def __init__(
        self,
        message: str,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message)
        self.message = message
        self.broker = context.get("broker")
        self.connection_id = context.get("connection_id")
        self.http_status = context.get("http_status")
        self.broker_code = context.get("broker_code")
        self.request_id = context.get("request_id")

    def __str__(self) -> str:
        context = [
            f"{label}={value}"
            for label, value in (
                ("broker", self.broker),
                ("connection", self.connection_id),
                ("status", self.http_status),
                ("code", self.broker_code),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# --- rejected: the request itself is wrong or impossible; do not retry ------------------


class InvalidOrderError(BrokerError):
    """The order is malformed or breaks a rule; ``field`` names what to fix."""

    recovery = Recovery.FIX_REQUEST

    def __init__(
        self, message: str, *, field: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.field = field


class InsufficientFundsError(BrokerError):
    """Buying power is too low; carries what was required and what was available."""

    recovery = Recovery.USER_ACTION

    def __init__(
        self,
        message: str,
        *,
        required: Decimal | None = None,
        available: Decimal | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.required = required
        self.available = available


class SymbolNotFoundError(BrokerError):
    recovery = Recovery.FIX_REQUEST

    def __init__(
        self, message: str, *, symbol: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.symbol = symbol


class MarketClosedError(BrokerError):
    """The market cannot take the order now; ``next_open`` says when it can."""

    recovery = Recovery.WAIT_FOR_MARKET_OPEN

    def __init__(
        self, message: str, *, next_open: datetime | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.next_open = next_open


class NotSupportedError(BrokerError):
    """The broker has no route for this; nothing was sent."""

    recovery = Recovery.FIX_REQUEST


class OrderNotFoundError(BrokerError):
    recovery = Recovery.FIX_REQUEST

    def __init__(
        self, message: str, *, order_id: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.order_id = order_id


class DuplicateOrderError(BrokerError):
    """An order with this client order id already exists at the broker."""

    recovery = Recovery.RECONCILE

    def __init__(
        self, message: str, *, client_order_id: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.client_order_id = client_order_id


class PermissionDeniedError(BrokerError):
    recovery = Recovery.USER_ACTION


# --- transient: safe to retry a read after backoff --------------------------------------


class RateLimitError(BrokerError):
    retryable = True
    recovery = Recovery.RETRY_WITH_BACKOFF

    def __init__(
        self, message: str, *, retry_after: float | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class BrokerConnectionError(BrokerError):
    """The broker could not be reached (the spec's ConnectionError)."""

    retryable = True
    recovery = Recovery.RETRY_WITH_BACKOFF


class BrokerUnavailableError(BrokerError):
    """The broker answered but is down or failing (5xx, maintenance)."""

    retryable = True
    recovery = Recovery.RETRY_WITH_BACKOFF


class UnexpectedResponseError(BrokerUnavailableError):
    """The broker answered a read with something unreadable: malformed or truncated JSON,
    wrong types, missing fields, an HTML page, a body over the size cap. The message
    carries a redacted excerpt. Safe to retry a read later; report it if it persists."""

    retryable = True
    recovery = Recovery.RETRY_WITH_BACKOFF


# --- ambiguous: a write may or may not have taken effect -------------------------------


class RequestTimeoutError(BrokerError):
    """A write was sent and no answer came back: the broker may have acted.

    Never resend: reconcile by ``client_order_id`` (or by fingerprint) first.
    """

    recovery = Recovery.RECONCILE

    def __init__(
        self, message: str, *, client_order_id: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.client_order_id = client_order_id


class UnreadableAcknowledgementError(RequestTimeoutError):
    """A write was answered, but the answer cannot be read (malformed, truncated, over the
    size cap): the broker may have acted. Like a timeout, it is reconciled, never resent."""


# --- authentication ------------------------------------------------------------------


class AuthError(BrokerError):
    """Credentials were refused."""

    recovery = Recovery.REAUTHENTICATE


class ReauthRequiredError(AuthError):
    """The refresh token expired or was revoked: the user must sign in again."""

    recovery = Recovery.REAUTHENTICATE


class ManualInteractionRequiredError(AuthError):
    """The broker wants a person: a 2FA code, a device approval, a consent page."""

    recovery = Recovery.USER_ACTION

    def __init__(
        self, message: str, *, challenge: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.challenge = challenge


__all__ = [
    "AuthError",
    "BrokerConnectionError",
    "BrokerError",
    "BrokerUnavailableError",
    "DuplicateOrderError",
    "ErrorContext",
    "InsufficientFundsError",
    "InvalidOrderError",
    "ManualInteractionRequiredError",
    "MarketClosedError",
    "NotSupportedError",
    "OrderNotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReauthRequiredError",
    "Recovery",
    "RequestTimeoutError",
    "SymbolNotFoundError",
    "UnexpectedResponseError",
    "UnreadableAcknowledgementError",
]
