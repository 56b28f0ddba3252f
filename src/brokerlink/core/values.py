"""Value types used by every model: exact decimals, UTC datetimes, client order ids.

A float is accepted only through its shortest string form (``0.1`` becomes
``Decimal("0.1")``), so no binary rounding error ever enters a price or quantity.
NaN and infinities are refused; so are booleans, which Python would otherwise treat
as numbers. Naive datetimes are refused rather than guessed at.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from brokerlink.core.numbers import check_bounded, parse_decimal_text

CLIENT_ORDER_ID_PREFIX = "bl"


def to_decimal(value: Any) -> Decimal:
    """Convert ``value`` to an exact, finite ``Decimal``.

    Raises ``ValueError`` (which pydantic reports against the field) for booleans,
    non-numeric strings (or digits other than ASCII), NaN, infinities and values outside
    ``core.numbers``' bounds.
    """
    if type(value) is Decimal:  # the usual case, already exact
        return check_bounded(value)
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        return parse_decimal_text(value)
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return check_bounded(result)


def to_utc(value: Any) -> datetime:
    """Return ``value`` as an aware UTC datetime; ISO strings are parsed.

    Raises ``ValueError`` for naive datetimes: their zone cannot be known.
    """
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # already aware UTC (``astimezone(UTC)`` returns it unchanged)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 datetime") from exc
    if not isinstance(value, datetime):
        raise ValueError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (naive times are ambiguous)")
    return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_client_order_id() -> str:
    """A client order id that is unique, short, and valid at every supported broker."""
    return f"{CLIENT_ORDER_ID_PREFIX}-{os.urandom(16).hex()}"  # secrets.token_hex(16)


Dec = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]
"""A Decimal field: exact on the way in, a string in JSON on the way out."""

UtcDatetime = Annotated[datetime, BeforeValidator(to_utc)]
"""An aware datetime, normalised to UTC."""
