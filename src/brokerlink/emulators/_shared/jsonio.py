"""JSON in and out of emulators, with money kept exact.

FastAPI's default encoder turns ``Decimal`` into ``float``; broker APIs (and the
project's rule) want decimal *strings*. Emulator handlers therefore build plain
dicts and return them through :func:`json_response`, and read request bodies with
:func:`read_json`, which parses every fractional number as ``Decimal``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel


class BodyError(ValueError):
    """A request body that is not the JSON the endpoint expects."""


def rfc3339(at: datetime) -> str:
    """``at`` in UTC as RFC 3339 with nanoseconds and a ``Z`` (a common broker style).

    Raises ``ValueError`` for a naive datetime.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}000Z"


def to_jsonable(value: Any) -> Any:
    """``value`` with ``Decimal`` as strings, datetimes as RFC 3339, enums as values and
    pydantic models dumped; containers are converted recursively."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _decimal_text(value: Decimal) -> str:
    # Plain notation ("100000", "0.5"), never "1E+5": brokers never send exponents.
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def dumps(value: Any) -> str:
    """Serialise with :func:`to_jsonable`; compact separators like real APIs."""
    return json.dumps(to_jsonable(value), separators=(",", ":"))


def plain_number(value: Decimal) -> str:
    """A ``Decimal`` as a JSON number in plain notation (``231.7``, ``100``)."""
    return _decimal_text(value)


def dumps_numbers(value: Any, number: Callable[[Decimal], str] = plain_number) -> str:
    """JSON in which every ``Decimal`` is a *number*, written by ``number`` from its exact
    digits (never through ``float``), for APIs that send numbers rather than strings.
    Datetimes, enums and models are converted as :func:`to_jsonable` does."""
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps_numbers(v, number)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_numbers(v, number) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("emulators write money from Decimal, never float")
    return json.dumps(to_jsonable(value))


def json_response(content: Any, status_code: int = 200,
                  headers: Mapping[str, str] | None = None, *,
                  decimals_as_numbers: bool = False) -> Response:
    """A JSON response whose decimals are strings (see :func:`to_jsonable`), or numbers
    with ``decimals_as_numbers`` (see :func:`dumps_numbers`)."""
    body = dumps_numbers(content) if decimals_as_numbers else dumps(content)
    return Response(content=body, status_code=status_code,
                    media_type="application/json", headers=dict(headers or {}))


def loads(text: str | bytes) -> Any:
    """Parse JSON with fractional numbers as ``Decimal``. Raises ``BodyError``."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise BodyError(f"request body is not valid JSON: {exc}") from exc


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (empty body: ``{}``). Raises ``BodyError`` when the
    body is not a JSON object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    parsed = loads(raw)
    if not isinstance(parsed, dict):
        raise BodyError("request body must be a JSON object")
    return parsed
