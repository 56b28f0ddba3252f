"""Turning a broker's non-success response into a typed ``BrokerError``.

Each adapter supplies an ``ErrorMapper`` that knows its broker's bodies and codes and
returns None for anything it does not recognise; ``default_error_for`` then maps by HTTP
status alone. Everything placed in a message is already redacted and truncated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    BrokerUnavailableError,
    ErrorContext,
    InvalidOrderError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from brokerlink.core.values import utc_now

from .ratelimit import retry_after_from_headers

#: Operations for which a 404 means "that order does not exist" rather than a wrong URL
#: or a missing account. Adapters name their operations after these.
ORDER_OPERATIONS = frozenset(
    {
        "get_order",
        "get_order_by_client_id",
        "cancel_order",
        "modify_order",
        "replace_order",
        "cancel_replace_order",
    }
)


@dataclass(frozen=True)
class ErrorResponse:
    """A response the transport did not expect, as a mapper sees it.

    ``body`` is the parsed JSON (floats as ``Decimal``) or, if the body is not JSON, the
    redacted text. ``text`` is always redacted and truncated, safe to put in a message.
    """

    status: int
    body: object
    text: str
    headers: httpx.Headers
    operation: str
    broker: str
    connection_id: str | None
    request_id: str | None
    client_order_id: str | None

    def context(self, *, broker_code: str | None = None) -> ErrorContext:
        """The ``ErrorContext`` keyword arguments every error built from this response takes."""
        return ErrorContext(
            broker=self.broker,
            connection_id=self.connection_id,
            http_status=self.status,
            broker_code=broker_code if broker_code is not None else error_code(self.body),
            request_id=self.request_id,
        )


class ErrorMapper(Protocol):
    """An adapter's translation of its error responses; None means "use the default"."""

    def __call__(self, response: ErrorResponse, /) -> BrokerError | None:
        """The typed error for ``response``, or None to fall through to
        ``default_error_for``. Must not raise and must not put secrets in messages."""
        ...


def error_code(body: object) -> str | None:
    """The broker's error code from common body shapes (``{"code": 40010001}``), as text."""
    if isinstance(body, Mapping):
        for key in ("code", "error_code", "errorCode"):
            value = body.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None


def error_message(body: object) -> str | None:
    """The broker's human message from common body shapes: ``{"message": ...}`` (Alpaca),
    ``{"errors": {"error": ... or [...]}}`` (Tradier), ``{"error": ...}``,
    ``{"fault": {"faultstring": ...}}``. None if there is none."""
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, Mapping):
        return None
    for key in ("message", "error_description", "detail"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        return _join_messages(errors.get("error"))
    if errors is not None:
        return _join_messages(errors)
    fault = body.get("fault")
    if isinstance(fault, Mapping):
        return _join_messages(fault.get("faultstring"))
    return _join_messages(body.get("error"))


def _join_messages(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        parts = [str(item).strip() for item in value if str(item).strip()]
        return "; ".join(parts) or None
    if isinstance(value, Mapping):
        return error_message(value)
    return None


def describe(response: ErrorResponse) -> str:
    """A one-line, redacted account of what the broker said, for error messages."""
    said = error_message(response.body) if isinstance(response.body, Mapping) else None
    detail = said or response.text or "no body"
    # Messages extracted from the parsed body are not yet redacted; the text is.
    if said is not None and said not in response.text:
        detail = response.text or "no body"
    return f"{response.broker} {response.operation} failed with HTTP {response.status}: {detail}"


def default_error_for(response: ErrorResponse) -> BrokerError:
    """Map ``response`` by HTTP status alone; never raises, always returns.

    401 ``AuthError``; 403 ``PermissionDeniedError``; 404 ``OrderNotFoundError`` for
    ``ORDER_OPERATIONS`` else ``BrokerError``; 400/422 ``InvalidOrderError``; 429
    ``RateLimitError`` with ``retry_after`` from ``Retry-After`` or the reset headers;
    408 and 5xx ``BrokerUnavailableError``; anything else ``BrokerError``. (A 408/504 on a
    write never gets here: the transport raises ``RequestTimeoutError`` for it.)
    """
    status = response.status
    context = response.context()
    message = describe(response)
    if status == 401:
        return AuthError(f"{message}. Check the credentials or sign in again", **context)
    if status == 403:
        return PermissionDeniedError(
            f"{message}. The account or key lacks permission for this", **context
        )
    if status == 404:
        if response.operation in ORDER_OPERATIONS:
            return OrderNotFoundError(message, **context)
        return BrokerError(message, **context)
    if status in (400, 422):
        return InvalidOrderError(f"{message}. Fix the request; do not resend it as is", **context)
    if status == 429:
        retry_after = retry_after_from_headers(response.headers, now=utc_now())
        return RateLimitError(
            f"{message}. Rate limited; retry after the window resets",
            retry_after=retry_after,
            **context,
        )
    if status == 408 or status >= 500:
        return BrokerUnavailableError(
            f"{message}. The broker is failing; retry later "
            "(after an order request, first check whether it was placed)",
            **context,
        )
    return BrokerError(message, **context)


__all__ = [
    "ORDER_OPERATIONS",
    "ErrorMapper",
    "ErrorResponse",
    "default_error_for",
    "describe",
    "error_code",
    "error_message",
]
