"""The base of every adapter's ``client.py``: typed requests out, typed wire models in,
and no untyped failure in between.

An adapter's ``AcmeClient(WireClient)`` has one async method per endpoint. It builds what
it sends from ``WireRequest`` models (never ad-hoc dicts) and reads answers with
``read``/``write``, which validate the body into a pydantic model or ``TypeAdapter``.
The client knows wire models only; core models are ``mapping.py``'s business.

Whatever a broker sends back, a call ends in a ``BrokerError``:

* a READ whose body cannot be read (not JSON, truncated, too deep, invalid UTF-8,
  ``null``, empty, a list where an object belongs, wrong types, missing fields) raises
  ``UnexpectedResponseError`` with a short, redacted excerpt of the body;
* a WRITE (place, modify, cancel) answered with such a body raises
  ``UnreadableAcknowledgementError``, an ambiguous ``RequestTimeoutError`` carrying the
  client order id: the broker may have acted, so the caller reconciles and never resends.

JSON is parsed with a nesting-depth bound (``MAX_JSON_DEPTH``), so a deeply nested body
is refused before the parser or the validator can recurse into ``RecursionError``.

Naming rule for ``mapping.py`` (every adapter follows it):

* ``<core_thing>_from_wire(wire, ...)`` turns a wire model into a core model
  (``order_from_wire``, ``position_from_wire``, ``quote_from_wire``);
* ``<thing>_to_wire(core, ...)`` turns a core value into a wire request model
  (``order_to_wire``, ``modify_to_wire``).

Other helpers in ``mapping.py`` are private (``_name``) or plain lookups of one wire
value (``order_status(raw)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any, TypeVar, overload

import httpx
from pydantic import BaseModel, ConfigDict, PlainSerializer, TypeAdapter, ValidationError

from brokerlink.core.errors import (
    BrokerError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)

from .redaction import truncate
from .transport import DEFAULT_EXPECTED, REQUEST_ID_HEADERS, Transport

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted in a broker body. Real answers nest a few
levels (an order's legs, a quote map); anything far deeper is hostile or broken."""

EXCERPT_CHARS = 200
"""How much of an unreadable body (redacted) an error message quotes."""

# Failures that mean "this body cannot be read as what we expected". A BrokerError raised
# while reading (a mapping rule refusing a wire value) means the same thing.
PARSE_FAILURES: tuple[type[BaseException], ...] = (
    ValidationError,
    ValueError,  # json.JSONDecodeError, UnicodeDecodeError, decimal errors, too deep
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    ArithmeticError,
)

_READ_FAILURES: tuple[type[BaseException], ...] = (*PARSE_FAILURES, BrokerError)

# For the depth check: every byte but brackets and quotes is deleted, and braces become
# brackets (only nesting matters; a mismatch is the parser's to report, and it stops
# there no deeper than the openers before it).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_STRING = re.compile(rb'"[^"]*"')


class BodyTooDeepError(ValueError):
    """A JSON body nests deeper than allowed."""


def check_depth(content: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``BodyTooDeepError`` if ``content`` (JSON text) nests arrays/objects deeper
    than ``max_depth``. Cheap for ordinary bodies: nothing is scanned when the body holds
    fewer brackets than the bound.

    Brackets inside strings do not count. A few unbalanced brackets are left for the
    JSON parser to refuse; more than ``max_depth`` of them are refused here.
    """
    if content.count(b"[") + content.count(b"{") <= max_depth:
        return
    # Escaped backslashes and quotes go first (so the quotes left pair as JSON's do),
    # then everything but brackets and quotes, then strings: ``""`` pairs (most of them:
    # their contents are gone), then the few that held brackets. Each pass of the loop
    # deletes the innermost pairs, so the passes that make progress count the depth.
    # All of it runs in C (a 400 KB page of orders: about 2 ms).
    structure = content.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = structure.translate(_AS_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = _STRING.sub(b"", structure) if b'"' in structure else structure
    brackets = brackets.replace(b'"', b"")
    for _ in range(max_depth):
        if not brackets:
            return
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            # No adjacent pair left, yet brackets remain: unbalanced, so not JSON at
            # all. A short remainder is left for json.loads to report; a long one
            # ("[" * 100000) could recurse in the parser before it notices.
            if len(brackets) > max_depth:
                raise BodyTooDeepError(
                    f"the body has over {max_depth} unbalanced brackets")
            return
        brackets = shorter
    if brackets:
        raise BodyTooDeepError(f"the body nests deeper than {max_depth} levels")


def loads_bounded(content: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON with every non-integer number as ``Decimal`` and nesting bounded.

    Raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``,
    ``BodyTooDeepError``) when ``content`` is not acceptable JSON. An empty body is a
    ``json.JSONDecodeError`` too: callers that accept "no body" check for it first.
    """
    raw = content.encode() if isinstance(content, str) else content
    check_depth(raw, max_depth)
    # Decode explicitly so invalid UTF-8 is a UnicodeDecodeError (a ValueError) here and
    # not json's guess at another encoding.
    return json.loads(raw.decode("utf-8"), parse_float=Decimal)


def decimal_text(value: Decimal) -> str:
    """``value`` as plain decimal text with no exponent and no trailing zeros after the
    point (``Decimal("10.50")`` -> ``"10.5"``, ``Decimal("1E+1")`` -> ``"10"``): the form
    brokers' own examples send. Raises ``ValueError`` for NaN or infinity."""
    if not value.is_finite():
        raise ValueError(f"cannot send {value} to a broker")
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


DecimalText = Annotated[Decimal, PlainSerializer(decimal_text, return_type=str)]
"""A ``Decimal`` request field sent as text (``"187.1"``), never as a float."""


class WireRequest(BaseModel):
    """Base of every request model: frozen, unknown fields refused (a typo is a bug, not
    a silently dropped field). ``to_wire()`` gives the JSON-ready dict, omitting unset
    (None) fields; aliases are used, so a field can carry a wire name Python cannot."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The body or query parameters to send: JSON types only, None fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _request_id(headers: httpx.Headers) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value: str | None = headers.get(name)
        if value:
            return value
    return None


class WireClient:
    """Typed send-and-parse on one ``Transport``; subclass it per broker.

    ``on_response`` is called with every successful response before it is parsed (an
    adapter reads the server's ``Date`` header there, for instance). Subclasses use
    ``read``/``write``/``send`` and never call ``json.loads`` or ``model_validate`` on a
    body themselves.
    """

    def __init__(self, transport: Transport, *, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.transport = transport
        self._max_depth = max_depth

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport!r})"

    def on_response(self, response: httpx.Response) -> None:
        """Hook called with each expected response before parsing; does nothing here."""

    # --- sending ---------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        write: bool,
        params: WireRequest | Mapping[str, Any] | None = None,
        body: WireRequest | None = None,
        form: WireRequest | None = None,
        client_order_id: str | None = None,
        base_url: str | None = None,
        bucket: str = "default",
        headers: Mapping[str, str] | None = None,
        expected: tuple[int, ...] = DEFAULT_EXPECTED,
    ) -> httpx.Response:
        """Send one request (``body`` as JSON, ``form`` form-encoded, ``params`` as the
        query) and return the expected response. Raises what ``Transport.request``
        raises."""
        query = params.to_wire() if isinstance(params, WireRequest) else params
        response = await self.transport.request(
            method,
            path,
            operation=operation,
            write=write,
            params=query,
            json=body.to_wire() if body is not None else None,
            data=form.to_wire() if form is not None else None,
            client_order_id=client_order_id,
            base_url=base_url,
            bucket=bucket,
            headers=headers,
            expected=expected,
        )
        self.on_response(response)
        return response

    @overload
    async def read(self, path: str, model: type[M], *, operation: str,
                   params: WireRequest | Mapping[str, Any] | None = ...,
                   base_url: str | None = ..., bucket: str = ...,
                   headers: Mapping[str, str] | None = ...,
                   expected: tuple[int, ...] = ...) -> M: ...

    @overload
    async def read(self, path: str, model: TypeAdapter[T], *, operation: str,
                   params: WireRequest | Mapping[str, Any] | None = ...,
                   base_url: str | None = ..., bucket: str = ...,
                   headers: Mapping[str, str] | None = ...,
                   expected: tuple[int, ...] = ...) -> T: ...

    async def read(self, path: str, model: type[BaseModel] | TypeAdapter[Any], *,
                   operation: str, params: WireRequest | Mapping[str, Any] | None = None,
                   base_url: str | None = None, bucket: str = "default",
                   headers: Mapping[str, str] | None = None,
                   expected: tuple[int, ...] = DEFAULT_EXPECTED) -> Any:
        """GET ``path`` (a read: retried by the transport) and parse the body as
        ``model``. Raises ``UnexpectedResponseError`` for an unreadable body, and what
        ``Transport.request`` raises."""
        response = await self.send("GET", path, operation=operation, write=False,
                                   params=params, base_url=base_url, bucket=bucket,
                                   headers=headers, expected=expected)
        return self.parse(response, model, operation=operation, write=False)

    @overload
    async def write(self, method: str, path: str, model: type[M], *, operation: str,
                    client_order_id: str | None, body: WireRequest | None = ...,
                    form: WireRequest | None = ...,
                    params: WireRequest | Mapping[str, Any] | None = ...,
                    base_url: str | None = ..., bucket: str = ...,
                    headers: Mapping[str, str] | None = ...,
                    expected: tuple[int, ...] = ...) -> M: ...

    @overload
    async def write(self, method: str, path: str, model: TypeAdapter[T], *,
                    operation: str, client_order_id: str | None,
                    body: WireRequest | None = ..., form: WireRequest | None = ...,
                    params: WireRequest | Mapping[str, Any] | None = ...,
                    base_url: str | None = ..., bucket: str = ...,
                    headers: Mapping[str, str] | None = ...,
                    expected: tuple[int, ...] = ...) -> T: ...

    async def write(self, method: str, path: str, model: type[BaseModel] | TypeAdapter[Any],
                    *, operation: str, client_order_id: str | None,
                    body: WireRequest | None = None, form: WireRequest | None = None,
                    params: WireRequest | Mapping[str, Any] | None = None,
                    base_url: str | None = None, bucket: str = "default",
                    headers: Mapping[str, str] | None = None,
                    expected: tuple[int, ...] = DEFAULT_EXPECTED) -> Any:
        """Send a write once and parse its acknowledgement as ``model``.

        Raises ``UnreadableAcknowledgementError`` (ambiguous, carrying
        ``client_order_id``) when the answer cannot be read: the broker may have acted.
        Otherwise raises what ``Transport.request`` raises for a write.
        """
        response = await self.send(method, path, operation=operation, write=True,
                                   body=body, form=form, params=params,
                                   client_order_id=client_order_id, base_url=base_url,
                                   bucket=bucket, headers=headers, expected=expected)
        return self.parse(response, model, operation=operation, write=True,
                          client_order_id=client_order_id)

    # --- parsing ---------------------------------------------------------------------

    def json_body(self, response: httpx.Response, *, operation: str, write: bool,
                  client_order_id: str | None = None, allow_empty: bool = False) -> Any:
        """The response's JSON (bounded depth, decimals exact). An empty body gives None
        when ``allow_empty``, else it is unreadable. Raises as ``parse`` does."""
        content = response.content
        if allow_empty and not content.strip():
            return None
        with self.reading(operation, write=write, client_order_id=client_order_id,
                          response=response):
            return loads_bounded(content, max_depth=self._max_depth)

    @overload
    def parse(self, response: httpx.Response, model: type[M], *, operation: str,
              write: bool, client_order_id: str | None = ...) -> M: ...

    @overload
    def parse(self, response: httpx.Response, model: TypeAdapter[T], *, operation: str,
              write: bool, client_order_id: str | None = ...) -> T: ...

    def parse(self, response: httpx.Response, model: type[BaseModel] | TypeAdapter[Any], *,
              operation: str, write: bool, client_order_id: str | None = None) -> Any:
        """Validate ``response``'s body as ``model``.

        Raises ``UnexpectedResponseError`` (read) or ``UnreadableAcknowledgementError``
        (write) for any body that is not valid JSON of that shape, including an empty one
        and ``null``.
        """
        data = self.json_body(response, operation=operation, write=write,
                              client_order_id=client_order_id)
        with self.reading(operation, write=write, client_order_id=client_order_id,
                          response=response):
            if isinstance(model, TypeAdapter):
                return model.validate_python(data)
            return model.model_validate(data)

    @contextmanager
    def reading(self, operation: str, *, write: bool, client_order_id: str | None = None,
                response: httpx.Response | None = None) -> Iterator[None]:
        """Turn any failure to read an answer inside the block into the typed error for a
        read or a write. Brokers wrap their mapping of a write's answer in it too: a
        value the mapping refuses means the acknowledgement could not be read."""
        try:
            yield
        except (UnreadableAcknowledgementError, UnexpectedResponseError):
            raise
        except _READ_FAILURES as exc:
            raise self.unreadable(operation, exc, write=write,
                                  client_order_id=client_order_id,
                                  response=response) from exc

    def unreadable(self, operation: str, cause: BaseException, *, write: bool,
                   client_order_id: str | None = None,
                   response: httpx.Response | None = None) -> BrokerError:
        """The typed error for an answer that cannot be read (see the module docstring).
        The message quotes at most ``EXCERPT_CHARS`` of the body, redacted."""
        transport = self.transport
        reason = _reason(cause)
        status = response.status_code if response is not None else None
        request_id = _request_id(response.headers) if response is not None else None
        excerpt = self._excerpt(response)
        if write:
            ref = (f"client order id {client_order_id}" if client_order_id
                   else "reading the order back")
            return UnreadableAcknowledgementError(
                f"{transport.broker} {operation} was answered (HTTP {status}) but the answer "
                f"cannot be read ({reason}): {excerpt}. The broker may have acted: "
                f"reconcile by {ref}, do not resend",
                client_order_id=client_order_id, broker=transport.broker,
                connection_id=transport.connection_id, http_status=status,
                request_id=request_id)
        return UnexpectedResponseError(
            f"{transport.broker} {operation} returned an answer that cannot be read "
            f"({reason}): {excerpt}",
            broker=transport.broker, connection_id=transport.connection_id,
            http_status=status, request_id=request_id)

    def _excerpt(self, response: httpx.Response | None) -> str:
        if response is None:
            return "no body"
        content = response.content
        if not content.strip():
            return "empty body"
        # Only the head is decoded: a huge body is never copied whole into a message.
        head = content[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        return truncate(self.transport.redact(head), EXCERPT_CHARS)


def _reason(cause: BaseException) -> str:
    """A short, secret-free description of why a body could not be read. Pydantic's
    messages can quote input values, so only error locations and kinds are used."""
    if isinstance(cause, ValidationError):
        first = cause.errors(include_url=False, include_input=False)[:3]
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['type']}" for e in first]
        more = cause.error_count() - len(first)
        return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    if isinstance(cause, BodyTooDeepError):
        return str(cause)
    if isinstance(cause, json.JSONDecodeError):
        return f"not JSON at position {cause.pos}"
    if isinstance(cause, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(cause, RecursionError):
        return "nested too deep"
    if isinstance(cause, BrokerError):
        return f"{type(cause).__name__}: {truncate(cause.message, 120)}"
    return type(cause).__name__


__all__ = [
    "EXCERPT_CHARS",
    "MAX_JSON_DEPTH",
    "PARSE_FAILURES",
    "BodyTooDeepError",
    "DecimalText",
    "WireClient",
    "WireRequest",
    "check_depth",
    "decimal_text",
    "loads_bounded",
]
