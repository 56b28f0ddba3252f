"""The one HTTP client every broker adapter talks through.

It owns the pooled ``httpx.AsyncClient`` and applies, per call: credentials, the rate
limiter for the call's bucket, retries (reads only), error mapping, request-id capture,
redaction and auditing. The rule it exists to enforce: **a write is sent at most once**.
When a write may have reached the broker and no complete answer came back, the caller gets
``RequestTimeoutError`` and must reconcile by client order id, never resend.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
import ssl
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import httpx

from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerError,
    RateLimitError,
    RequestTimeoutError,
)
from brokerlink.core.values import utc_now

from .aiohttp_transport import AiohttpTransport
from .audit import AuditSink, NullAuditSink, RequestAuditEvent
from .credentials import CredentialSource
from .errors import ErrorMapper, ErrorResponse, default_error_for
from .ratelimit import RateLimiter, RateLimits, retry_after_from_headers
from .redaction import (
    MAX_BODY_CHARS,
    is_sensitive_name,
    redact_body,
    redact_mapping,
    redact_text,
    redact_value,
    scrub_values,
)
from .retry import RetryPolicy

logger = logging.getLogger("brokerlink.transport")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
"""Connect 5 s, read 15 s, write 10 s, waiting for a pooled connection 5 s."""

DEFAULT_EXPECTED = (200, 201, 202, 204)

REQUEST_ID_HEADERS = ("X-Request-ID", "Request-Id", "X-Amzn-RequestId")
"""Where brokers put their request id (header lookup is case-insensitive)."""

# Failures that happen before any byte of the request can have reached the server.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)

# Statuses worth repeating a read for (when the mapped error agrees it is retryable).
_RETRYABLE_READ_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# On a write these mean the broker (or a gateway before it) failed mid-request: it may
# still have acted, so the outcome is unknown. 503 is left out: it says the service
# refused the request before handling it.
_AMBIGUOUS_WRITE_STATUSES = frozenset({408, 500, 502, 504})


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


def _request_id(headers: httpx.Headers) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value: str | None = headers.get(name)
        if value:
            return value
    return None


def _secret_values_in(mapping: Mapping[str, Any] | None) -> Iterable[str]:
    """Values filed under credential-like names, so they are also scrubbed by value."""
    if not mapping:
        return ()
    return [v for k, v in mapping.items() if is_sensitive_name(str(k)) and isinstance(v, str)]


class Transport:
    """A pooled async HTTP client for one broker connection.

    Use as ``async with Transport(...) as t:`` or call ``open()``/``aclose()``; the
    client is also created lazily on first request. One ``Transport`` per connection:
    it holds that connection's rate limits, credentials and id. Safe for concurrent use
    from one event loop.

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
    ) -> None:
        self.broker = broker
        self.base_url = base_url
        self.connection_id = connection_id
        self._credentials = credentials
        self._error_mapper = error_mapper
        self._rate_limits = rate_limits
        self._audit: AuditSink = audit if audit is not None else NullAuditSink()
        self._retry = retry
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self._default_headers = {
            "Accept": "application/json",
            "User-Agent": "brokerlink",
            **(default_headers or {}),
        }
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        # Every secret value this transport has handled, for scrubbing by value.
        self._secrets: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"Transport(broker={self.broker!r}, base_url={self.base_url!r}, "
            f"connection_id={self.connection_id!r})"
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Create the pooled client if it does not exist yet. Idempotent."""
        self._ensure_client()

    def _ensure_client(self) -> httpx.AsyncClient:
        # No await between the check and the assignment, so concurrent first calls on one
        # event loop cannot create two pools.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=AiohttpTransport(ssl_context=shared_ssl_context(),
                                           max_connections=self._max_connections),
                # A redirect could resend a write to another URL; brokers do not redirect APIs.
                follow_redirects=False,
                # Used only for a proxy taken from the environment (httpx's own transport).
                verify=shared_ssl_context(),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled client; a later request opens a new one. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

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

    def _remember_secrets(self, values: Iterable[str]) -> None:
        for value in values:
            self._secrets.add(value)
            # "Bearer abc" is scrubbed as a whole and as the bare token "abc".
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic", "token"):
                self._secrets.add(token)

    def redact(self, text: str) -> str:
        """``text`` with every secret this transport has seen, and credential patterns,
        scrubbed. Adapters use it before quoting anything from the wire."""
        return redact_text(text, self._secrets)

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

        Raises:
            RequestTimeoutError: a write may have reached the broker but no complete
                response came back (read timeout, dropped connection, 408/500/502/504). Reconcile
                by ``client_order_id``; do not resend.
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
        method = method.upper()
        # No RateLimits (or an empty one) means no client-side limit: the server's 429s and
        # Retry-After still slow reads down through the retry policy.
        limiter = self._rate_limits.limiter_for(bucket) if self._rate_limits else None
        self._remember_secrets(_secret_values_in(params))
        self._remember_secrets(_secret_values_in(data))
        if isinstance(json, Mapping):
            self._remember_secrets(_secret_values_in(json))
        log_path = self.redact(url.path)
        call = _CallRecord(started_at=utc_now(), started=time.perf_counter())
        try:
            return await self._attempts(
                method,
                url,
                log_path=log_path,
                operation=operation,
                write=write,
                params=params,
                json=json,
                data=data,
                headers=headers,
                limiter=limiter,
                client_order_id=client_order_id,
                expected=expected,
                call=call,
            )
        except BaseException as exc:
            call.outcome = type(exc).__name__
            raise
        finally:
            if not isinstance(self._audit, NullAuditSink):  # nobody to tell: skip the work
                await self._emit_audit(
                    call,
                    method=method,
                    path=log_path,
                    operation=operation,
                    write=write,
                    summary=_summary(params, json, data),
                    client_order_id=client_order_id,
                )

    async def _attempts(
        self,
        method: str,
        url: httpx.URL,
        *,
        log_path: str,
        operation: str,
        write: bool,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        limiter: RateLimiter | None,
        client_order_id: str | None,
        expected: tuple[int, ...],
        call: _CallRecord,
    ) -> httpx.Response:
        client = self._ensure_client()
        body = encode_json(json) if json is not None else None
        reauthenticated = False
        failures = 0  # attempts that count against RetryPolicy.max_attempts
        while True:
            if limiter is not None:
                await limiter.acquire()
            auth = await self._credentials.auth_headers()
            self._remember_secrets(auth.values())
            sent_headers = httpx.Headers(self._default_headers)
            sent_headers.update(headers or {})
            sent_headers.update(auth)
            if body is not None and "Content-Type" not in sent_headers:
                sent_headers["Content-Type"] = "application/json"
            call.attempts += 1
            try:
                response = await client.request(
                    method, url, params=params, content=body, data=data, headers=sent_headers
                )
            except httpx.HTTPError as exc:
                failures += 1
                error = self._transport_error(
                    exc, method, log_path, operation, write, client_order_id
                )
                if write or failures >= self._retry.max_attempts:
                    raise error from exc
                delay = self._retry.delay_for(failures)
                logger.warning(
                    "%s %s %s: %s on attempt %d; retrying in %.3fs",
                    self.broker,
                    operation,
                    method,
                    type(exc).__name__,
                    call.attempts,
                    delay,
                )
                await self._retry.sleep(delay)
                continue

            call.status = response.status_code
            call.request_id = _request_id(response.headers) or call.request_id
            if limiter is not None:
                limiter.update_from_headers(response.headers)
            logger.debug(
                "%s %s %s %s -> %d (attempt %d, request_id=%s)",
                self.broker,
                operation,
                method,
                log_path,
                response.status_code,
                call.attempts,
                call.request_id,
            )
            if response.status_code in expected:
                return response

            if response.status_code == 401 and not reauthenticated:
                reauthenticated = True
                # Let the token manager refresh even for a write, so the next call works.
                refreshed = await self._credentials.on_unauthorized()
                if refreshed and not write:
                    logger.info(
                        "%s %s: 401, credentials refreshed; retrying once", self.broker, operation
                    )
                    continue

            if write and response.status_code in _AMBIGUOUS_WRITE_STATUSES:
                raise self._ambiguous(
                    f"{self.broker} {operation} got HTTP {response.status_code} from a gateway "
                    "that stopped waiting",
                    client_order_id,
                    http_status=response.status_code,
                    request_id=call.request_id,
                )

            error = self._map_error(response, operation, call.request_id, client_order_id)
            retry_after: float | None = None
            if isinstance(error, RateLimitError):
                # The mapper may know more (a body field); the headers are the fallback.
                retry_after = error.retry_after
            if response.status_code == 429 and retry_after is None:
                retry_after = retry_after_from_headers(response.headers, now=utc_now())
            if limiter is not None and retry_after is not None:
                limiter.pause_for(retry_after)
            failures += 1
            if (
                write
                or response.status_code not in _RETRYABLE_READ_STATUSES
                or not error.retryable
                or failures >= self._retry.max_attempts
                or not self._retry.should_wait_out(retry_after)
            ):
                raise error
            delay = self._retry.delay_for(failures, retry_after)
            logger.warning(
                "%s %s %s: HTTP %d on attempt %d; retrying in %.3fs",
                self.broker,
                operation,
                method,
                response.status_code,
                call.attempts,
                delay,
            )
            await self._retry.sleep(delay)

    # --- errors ------------------------------------------------------------------------

    def _ambiguous(
        self,
        what: str,
        client_order_id: str | None,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> RequestTimeoutError:
        ref = f"client order id {client_order_id}" if client_order_id else "fingerprint"
        return RequestTimeoutError(
            f"{what}. The broker may have acted: reconcile by {ref}, do not resend",
            client_order_id=client_order_id,
            broker=self.broker,
            connection_id=self.connection_id,
            http_status=http_status,
            request_id=request_id,
        )

    def _transport_error(
        self,
        exc: httpx.HTTPError,
        method: str,
        log_path: str,
        operation: str,
        write: bool,
        client_order_id: str | None,
    ) -> BrokerError:
        # httpx messages rarely carry more than an errno text, but scrub them anyway.
        cause = f"{type(exc).__name__}: {self.redact(str(exc))[:200]}".rstrip(": ")
        what = f"{self.broker} {operation} ({method} {log_path}) failed: {cause}"
        if isinstance(exc, _NOT_SENT):
            suffix = (
                "Nothing was sent; it is safe to try again later"
                if write
                else "Check the network or the broker's status; retry later"
            )
            return BrokerConnectionError(
                f"{what}. {suffix}", broker=self.broker, connection_id=self.connection_id
            )
        if write:
            # Read/write timeouts, dropped connections, protocol errors: the request may
            # have been received and acted on even though no complete answer came back.
            return self._ambiguous(what, client_order_id)
        return BrokerConnectionError(
            f"{what}. The broker did not answer; retry later",
            broker=self.broker,
            connection_id=self.connection_id,
        )

    def _map_error(
        self,
        response: httpx.Response,
        operation: str,
        request_id: str | None,
        client_order_id: str | None,
    ) -> BrokerError:
        text = redact_body(response.text, self._secrets, MAX_BODY_CHARS)
        body: object
        try:
            parsed = jsonlib.loads(response.content, parse_float=Decimal)
        except ValueError:
            body = text
        else:
            # Structure and Decimal types kept for the mapper; known secrets scrubbed.
            body = scrub_values(parsed, self._secrets)
        error_response = ErrorResponse(
            status=response.status_code,
            body=body,
            text=text,
            headers=response.headers,
            operation=operation,
            broker=self.broker,
            connection_id=self.connection_id,
            request_id=request_id,
            client_order_id=client_order_id,
        )
        mapped: BrokerError | None = None
        if self._error_mapper is not None:
            try:
                mapped = self._error_mapper(error_response)
            except Exception:
                # A buggy mapper must not hide the broker's answer; fall back to the default.
                logger.exception(
                    "%s error mapper failed for %s; using default mapping", self.broker, operation
                )
        return mapped if mapped is not None else default_error_for(error_response)

    # --- audit -------------------------------------------------------------------------

    async def _emit_audit(
        self,
        call: _CallRecord,
        *,
        method: str,
        path: str,
        operation: str,
        write: bool,
        summary: dict[str, Any],
        client_order_id: str | None,
    ) -> None:
        elapsed = Decimal(str(time.perf_counter() - call.started)) * 1000
        event = RequestAuditEvent(
            connection_id=self.connection_id,
            broker=self.broker,
            operation=operation,
            method=method,
            path=path,
            request_summary=scrub_values(summary, self._secrets),
            status=call.status,
            latency_ms=elapsed.quantize(Decimal("0.001")),
            outcome=call.outcome,
            request_id=call.request_id,
            client_order_id=client_order_id,
            at=call.started_at,
            attempts=call.attempts,
            write=write,
        )
        try:
            await self._audit.record(event)
        except Exception as exc:
            # Losing an audit record is bad; turning a placed order into an error is worse.
            logger.error(
                "audit sink failed for %s %s: %s: %s",
                self.broker,
                operation,
                type(exc).__name__,
                self.redact(str(exc))[:200],
            )

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
        ``BrokerError`` if the body is not JSON.
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

        Raises ``BrokerError`` (with a redacted, truncated excerpt) if it is not JSON.
        """
        if not response.content.strip():
            return None
        try:
            return jsonlib.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            excerpt = redact_body(response.text, self._secrets, 200)
            raise BrokerError(
                f"{self.broker} {operation} returned a body that is not JSON: {excerpt}",
                broker=self.broker,
                connection_id=self.connection_id,
                http_status=response.status_code,
                request_id=_request_id(response.headers),
            ) from exc


class _CallRecord:
    """Mutable facts about one logical call, filled in as attempts happen."""

    __slots__ = ("attempts", "outcome", "request_id", "started", "started_at", "status")

    def __init__(self, *, started_at: datetime, started: float) -> None:
        self.started_at = started_at
        self.started = started
        self.attempts = 0
        self.status: int | None = None
        self.request_id: str | None = None
        self.outcome = "ok"


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


__all__ = ["DEFAULT_TIMEOUT", "REQUEST_ID_HEADERS", "Transport", "encode_json"]
