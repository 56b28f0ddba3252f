"""Tradier's wire conventions, emulator side: JSON numbers, XML, and the collection quirk.

Tradier writes money and quantities as JSON *numbers* (``17798.36``, ``1.0``), not
strings, so the emulator has its own encoder that writes a ``Decimal`` as a number
without ever passing it through ``float``. It answers in XML unless the client sends
``Accept: application/json`` (the documented default is XML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from fastapi import Request
from fastapi.responses import Response

from brokerlink.emulators._shared.jsonio import dumps_numbers

NULL = "null"
"""What Tradier writes for an empty collection: the *string* ``"null"``."""


def collection(key: str, items: Sequence[Any]) -> Any:
    """Tradier's collection quirk: ``"null"`` when empty, ``{key: item}`` for one item,
    ``{key: [items]}`` for more than one."""
    if not items:
        return NULL
    if len(items) == 1:
        return {key: items[0]}
    return {key: list(items)}


def one_or_many(items: Sequence[Any]) -> Any:
    """The inner half of the quirk, for keys that sit directly on an object (``leg``,
    ``unmatched_symbols.symbol``): the item itself for one, a list for more."""
    return items[0] if len(items) == 1 else list(items)


def iso_ms(at: datetime) -> str:
    """``2018-06-01T12:02:29.682Z``: UTC, milliseconds, ``Z`` (Tradier's date style)."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def epoch_ms(at: datetime) -> int:
    """Quote dates are epoch milliseconds."""
    return int(at.timestamp() * 1000)


def number(value: Decimal) -> str:
    """A ``Decimal`` as a JSON number in plain notation; integral values get ``.0`` so
    they read as Tradier's floats do (``1.0``)."""
    text = format(value, "f")
    if "." not in text:
        text += ".0"
    return text


def dumps(value: Any) -> str:
    """JSON with ``Decimal`` as exact numbers in Tradier's style; ints stay ints."""
    return dumps_numbers(value, number)


def _xml_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return number(value)
    return escape(str(value))


def _xml(key: str, value: Any) -> str:
    if isinstance(value, Mapping):
        inner = "".join(_xml(str(k), v) for k, v in value.items())
        return f"<{key}>{inner}</{key}>"
    if isinstance(value, list | tuple):
        # XML has no arrays: a list is the element repeated, which is where the JSON
        # single-object-vs-array quirk comes from.
        return "".join(_xml(key, item) for item in value)
    return f"<{key}>{_xml_scalar(value)}</{key}>"


def to_xml(payload: Mapping[str, Any]) -> str:
    """The XML Tradier sends without ``Accept: application/json``."""
    body = "".join(_xml(str(k), v) for k, v in payload.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>{body}'


def wants_json(request: Request) -> bool:
    return "json" in request.headers.get("accept", "").lower()


def respond(request: Request, payload: Mapping[str, Any], status_code: int = 200,
            headers: Mapping[str, str] | None = None) -> Response:
    """``payload`` as JSON when the client asked for it, else XML (Tradier's default)."""
    if wants_json(request):
        return Response(dumps(payload), status_code=status_code,
                        media_type="application/json", headers=dict(headers or {}))
    return Response(to_xml(payload), status_code=status_code, media_type="application/xml",
                    headers=dict(headers or {}))

