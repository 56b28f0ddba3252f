"""The one HTTP client every broker adapter talks through.

``Transport`` is a composition of layers (``layers.py``) around one send port
(``send_port.py``): audit, read retry, re-authentication, rate limit, error mapping and
credentials, then the port, which is ``AiohttpTransport`` unless a test injects an
in-memory one. The rule it exists to enforce: **a write is sent at most once**. When a
write may have reached the broker and no complete, readable answer came back, the caller
gets ``RequestTimeoutError`` (or its subclass ``UnreadableAcknowledgementError``) and
must reconcile by client order id, never resend.
"""

from __future__ import annotations

import functools
import json as jsonlib
import ssl
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import httpx

from brokerlink.core.errors import (
    BrokerError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)

from .aiohttp_transport import AiohttpTransport
from .audit import AuditSink, NullAuditSink
from .credentials import CredentialSource
from .errors import ErrorMapper
from .layers import (
    REQUEST_ID_HEADERS,
    WRITE_EXTENSION,
    AuditLayer,
    AuthHeadersLayer,
    Call,
    ErrorMappingLayer,
    Layer,
    Origin,
    PortSender,
    RateLimitLayer,
    ReadRetryLayer,
    ReauthLayer,
    compose,
    request_id_of,
)
from .ratelimit import RateLimits
from .redaction import SecretSet, is_sensitive_name, redact_body, redact_mapping, redact_value
from .retry import RetryPolicy
from .send_port import DEFAULT_MAX_BODY_BYTES, SendPort

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
"""Connect 5 s, read 15 s, write 10 s, waiting for a pooled connection 5 s."""

DEFAULT_EXPECTED = (200, 201, 202, 204)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS settings every ``Transport`` verifies brokers with: httpx's default
    (certifi's CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as set when first used).

    Built once per process: loading the CA bundle costs ~50 ms, which httpx would
    otherwise pay for every client, i.e. every broker connection (100 accounts opened
    together spent ~5 s in it). An ``SSLContext`` is safe to share between clients."""
    return httpx.create_ssl_context()


@functools.lru_cache(maxsize=512)
def _parse_url(url: str) -> httpx.URL:
    # Parsing a URL costs httpx ~25 us per request; the same endpoints recur, and an
    # ``httpx.URL`` is immutable, so parsed ones are shared.
    return httpx.URL(url)


def _join_url(base: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        raise ValueError("path must be relative; pass base_url to change host")
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        # Money goes out as a string so no float ever rounds it (brokers accept "187.10").
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def encode_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON with every ``Decimal`` written as a string.

    Raises ``TypeError`` for values JSON cannot carry (a programming error: nothing is sent).
    """
    return jsonlib.dumps(
        value, default=_json_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


def _secret_values_in(mapping: Mapping[str, Any] | None) -> Iterable[str]:
    """Values filed under credential-like names, so they are also scrubbed by value."""
    if not mapping:
        return ()
    return [v for k, v in mapping.items() if is_sensitive_name(str(k)) and isinstance(v, str)]


class Transport:
    """An async HTTP client for one broker connection, built from layers.

    Use as ``async with Transport(...) as t:`` or call ``open()``/``aclose()``; the
    client is also created lazily on first request. One ``Transport`` per connection:
    it holds that connection's rate limits, credentials and id. Safe for concurrent use
    from one event loop.

    ``port`` replaces the network: every request goes to its ``handle_async_request``
    (a test's in-memory fake); by default a pooled ``AiohttpTransport`` is made for each
    client. ``max_body_bytes`` caps how much of any response body is read (default
    16 MiB); over it a read raises ``UnexpectedResponseError`` and a write
    ``UnreadableAcknowledgementError``.

    Auditing happens once per logical ``request`` call, after the last attempt, with the
    number of attempts; a failing sink is logged (redacted) and otherwise ignored.
    """

    def __init__(
        self,
        *,
        broker: str,
        base_url: str,
        credentials: CredentialSource,
        error_mapper: ErrorMapper | None = None,
        rate_limits: RateLimits | None = None,
        audit: AuditSink | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008  (frozen, so sharing is safe)
        timeout: httpx.Timeout | None = None,
        connection_id: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = 20,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        port: SendPort | None = None,
    ) -> None:
        self.broker = broker
        self.base_url = base_url
        self.connection_id = connection_id
        self._rate_limits = rate_limits
        self._secrets = SecretSet()
        origin = Origin(broker, connection_id)
        default = {"Accept": "application/json", "User-Agent": "brokerlink",
                   **(default_headers or {})}
        port_factory: Callable[[], SendPort]
        if port is None:
            port_factory = functools.partial(AiohttpTransport, ssl_context=shared_ssl_context(),
                                             max_connections=max_connections)
        else:
            port_factory = functools.partial(_same, port)
        self._sender = PortSender(
            port_factory, timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            max_body_bytes=max_body_bytes,
            # An injected port receives everything; the real one lets httpx route a proxy
            # from the environment through its own transport, verified the same way.
            trust_env=port is None, verify=shared_ssl_context() if port is None else True,
            origin=origin)
        self.error_mapping = ErrorMappingLayer(origin=origin, secrets=self._secrets,
                                               error_mapper=error_mapper)
        layers: list[Layer] = []
        if audit is not None and not isinstance(audit, NullAuditSink):
            # Nobody to tell: no event is built at all.
            layers.append(AuditLayer(audit, origin=origin, secrets=self._secrets))
        layers += [
            ReadRetryLayer(retry, origin=origin),
            ReauthLayer(credentials, origin=origin),
            RateLimitLayer(),
            self.error_mapping,
            AuthHeadersLayer(credentials, default_headers=default, secrets=self._secrets),
        ]
        self._send = compose(layers, self._sender)

    def __repr__(self) -> str:
        return (
            f"Transport(broker={self.broker!r}, base_url={self.base_url!r}, "
            f"connection_id={self.connection_id!r})"
        )

    @property
    def max_body_bytes(self) -> int:
        """The most bytes of a response body this transport reads."""
        return self._sender.max_body_bytes

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Create the pooled client if it does not exist yet. Idempotent."""
        self._sender.ensure_client()

    async def aclose(self) -> None:
        """Close the pooled client; a later request opens a new one. Idempotent."""
        await self._sender.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- redaction ---------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every secret this transport has seen, and credential patterns,
        scrubbed. Adapters use it before quoting anything from the wire."""
        return self._secrets.redact(text)

    # --- the call ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        write: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        bucket: str = "default",
        client_order_id: str | None = None,
        base_url: str | None = None,
        expected: tuple[int, ...] = DEFAULT_EXPECTED,
    ) -> httpx.Response:
        """Send one logical request and return the response if its status is ``expected``.

        ``json`` is sent as compact JSON with ``Decimal`` values as strings; ``data`` is
        form-encoded; passing both raises ``ValueError``. Reads (``write=False``) are
        retried per the ``RetryPolicy`` on connection failures, timeouts, 408, 429 and 5xx,
        and once after a 401 if the credential source refreshed. Writes are sent at most once.
        The body is read whole (at most ``max_body_bytes``) before this returns.

        Raises:
            RequestTimeoutError: a write may have reached the broker but no complete
                response came back (read timeout, dropped connection, 408/500/502/504). Reconcile
                by ``client_order_id``; do not resend.
            UnreadableAcknowledgementError: a write was answered with a body over the cap
                (ambiguous, like ``RequestTimeoutError``, whose subclass it is).
            UnexpectedResponseError: a read was answered with a body over the cap.
            BrokerConnectionError: the broker could not be reached (for a write: nothing
                was sent), or a read kept failing at the transport level.
            RateLimitError: 429 (for reads, after retries or a too-long Retry-After).
            AuthError: 401 that refreshing did not fix.
            BrokerError: any other unexpected status, as mapped by the adapter's
                ``ErrorMapper`` or ``default_error_for``.
            KeyError: ``bucket`` is not configured in ``rate_limits`` (a programming error).
        """
        if json is not None and data is not None:
            raise ValueError("pass json or data (form), not both")
        url = _parse_url(_join_url(base_url or self.base_url, path))
        # No RateLimits (or an empty one) means no client-side limit: the server's 429s and
        # Retry-After still slow reads down through the retry policy.
        limiter = self._rate_limits.limiter_for(bucket) if self._rate_limits else None
        self._secrets.remember(_secret_values_in(params))
        self._secrets.remember(_secret_values_in(data))
        if isinstance(json, Mapping):
            self._secrets.remember(_secret_values_in(json))
        call = Call(
            method=method.upper(), url=url, operation=operation, write=write,
            log_path=self.redact(url.path), params=params,
            content=encode_json(json) if json is not None else None, data=data,
            headers=headers, client_order_id=client_order_id, expected=expected,
            limiter=limiter, summary=_summary(params, json, data))
        return await self._send(call)

    # --- conveniences ------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        bucket: str = "default",
        base_url: str | None = None,
        expected: tuple[int, ...] = DEFAULT_EXPECTED,
    ) -> Any:
        """GET ``path`` as a read and return its JSON with every number that has a
        fraction or exponent as ``Decimal`` (money never passes through float).

        An empty body (e.g. 204) gives None. Raises what ``request`` raises, plus
        ``UnexpectedResponseError`` if the body is not JSON.
        """
        response = await self.request(
            "GET",
            path,
            operation=operation,
            write=False,
            params=params,
            headers=headers,
            bucket=bucket,
            base_url=base_url,
            expected=expected,
        )
        return self.parse_json(response, operation=operation)

    def parse_json(self, response: httpx.Response, *, operation: str) -> Any:
        """``response``'s JSON body with floats as ``Decimal``; None for an empty body.

        Raises ``UnexpectedResponseError`` (a read's answer) or
        ``UnreadableAcknowledgementError`` (a write's answer, so the outcome is unknown:
        reconcile, never resend), both with a redacted, truncated excerpt, when the body
        is not UTF-8 JSON or is nested too deeply to parse.
        """
        if not response.content.strip():
            return None
        try:
            return jsonlib.loads(response.content, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            # ValueError covers bad JSON, bad UTF-8 and an integer too long to convert.
            why = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            excerpt = redact_body(response.content.decode("utf-8", "replace"),
                                  self._secrets, 200)
            what = f"{self.broker} {operation} returned a body that is {why}: {excerpt}"
            error: BrokerError
            if response.extensions.get(WRITE_EXTENSION):
                error = UnreadableAcknowledgementError(
                    f"{what}. The broker may have acted: reconcile, do not resend",
                    broker=self.broker, connection_id=self.connection_id,
                    http_status=response.status_code,
                    request_id=request_id_of(response.headers))
            else:
                error = UnexpectedResponseError(
                    what, broker=self.broker, connection_id=self.connection_id,
                    http_status=response.status_code,
                    request_id=request_id_of(response.headers))
            raise error from None


def _same(port: SendPort) -> SendPort:
    return port


def _summary(
    params: Mapping[str, Any] | None, json: Any, data: Mapping[str, Any] | None
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if params:
        summary["params"] = redact_mapping(params)
    if json is not None:
        summary["json"] = redact_value(json)
    if data:
        summary["form"] = redact_mapping(data)
    return summary


__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_TIMEOUT", "REQUEST_ID_HEADERS", "Call",
           "Transport", "encode_json"]
