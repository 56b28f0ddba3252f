"""The transport's layers: each concern a separate piece around one send port.

A logical request is a ``Call``; a ``Handler`` takes a call and returns the complete
response or raises. A ``Layer`` wraps the next handler. ``Transport`` composes, from
the outside in::

    AuditLayer        one audit event per logical call, after the last attempt
    ReadRetryLayer    repeats a *read* per the RetryPolicy; never a write
    ReauthLayer       on a 401, lets the credentials refresh; resends a read once
    RateLimitLayer    waits for the call's bucket; the server's headers steer it
    ErrorMappingLayer transport failures and unexpected statuses -> typed BrokerError
    AuthHeadersLayer  the request's headers, with fresh credentials, per attempt
    PortSender        the send port, and the body read under the size cap

Each layer is usable alone with a fake next handler (tests/unit/transport/test_layers.py).
Layers talk through the ``Call``: the sender records what came back (``answer``,
``status``, ``request_id``, ``attempts``), the error mapping what the server asked
(``retry_after``), and the outer layers decide from those facts, not from error types
a custom mapper might choose differently.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx

from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerError,
    RateLimitError,
    RequestTimeoutError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)
from brokerlink.core.values import utc_now

from .audit import AuditSink, RequestAuditEvent
from .credentials import CredentialSource
from .errors import ErrorMapper, ErrorResponse, default_error_for
from .ratelimit import RateLimiter, retry_after_from_headers
from .redaction import MAX_BODY_CHARS, SecretSet, redact_body, scrub_values
from .retry import RetryPolicy
from .send_port import PortAdapter, ResponseTooLargeError, SendPort, read_capped

logger = logging.getLogger("brokerlink.transport")

REQUEST_ID_HEADERS = ("X-Request-ID", "Request-Id", "X-Amzn-RequestId")
"""Where brokers put their request id (header lookup is case-insensitive)."""

WRITE_EXTENSION = "brokerlink.write"
"""Key in a returned response's ``extensions``: True when it answers a write, so a
parser knows an unreadable body is an unreadable acknowledgement."""

# Failures that happen before any byte of the request can have reached the server.
NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)

# Statuses worth repeating a read for (when the mapped error agrees it is retryable).
RETRYABLE_READ_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# On a write these mean the broker (or a gateway before it) failed mid-request: it may
# still have acted, so the outcome is unknown. 503 is left out: it says the service
# refused the request before handling it.
AMBIGUOUS_WRITE_STATUSES = frozenset({408, 500, 502, 504})


def request_id_of(headers: httpx.Headers) -> str | None:
    """The broker's request id from the first of ``REQUEST_ID_HEADERS`` present."""
    for name in REQUEST_ID_HEADERS:
        value: str | None = headers.get(name)
        if value:
            return value
    return None


@dataclass(eq=False, slots=True)
class Call:
    """One logical request and the facts its attempts have produced so far.

    The first block is what the caller asked for (``content`` is the already-encoded
    JSON body, ``data`` a form); the second is filled in by the layers: ``answer`` is
    the latest attempt's complete response (None if that attempt got none),
    ``retry_after`` what the server asked for on it, ``attempts`` how many were sent.
    """

    method: str
    url: httpx.URL
    operation: str
    write: bool
    log_path: str
    params: Mapping[str, Any] | None = None
    content: bytes | None = None
    data: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    client_order_id: str | None = None
    expected: tuple[int, ...] = (200, 201, 202, 204)
    limiter: RateLimiter | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utc_now)
    started: float = field(default_factory=time.perf_counter)

    attempts: int = 0
    status: int | None = None
    request_id: str | None = None
    answer: httpx.Response | None = None
    retry_after: float | None = None
    reauthenticated: bool = False
    sent_headers: httpx.Headers | None = None
    outcome: str = "ok"


Handler = Callable[[Call], Awaitable[httpx.Response]]


class Layer(Protocol):
    """One concern around the next handler."""

    async def __call__(self, call: Call, send: Handler, /) -> httpx.Response:
        """Do this layer's part of ``call`` and return the response ``send`` gives."""
        ...


def compose(layers: Sequence[Layer], terminal: Handler) -> Handler:
    """One handler running ``layers`` outermost first, then ``terminal``."""
    handler = terminal
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Layer, inner: Handler) -> Handler:
    async def bound(call: Call) -> httpx.Response:
        return await layer(call, inner)

    return bound


@dataclass(frozen=True, slots=True)
class Origin:
    """Who is calling: named in every error and log line."""

    broker: str
    connection_id: str | None = None


# --- the innermost: the send port --------------------------------------------------------


class PortSender:
    """The terminal handler: sends one attempt through the send port and reads the body
    under ``max_body_bytes``.

    Owns the ``httpx.AsyncClient`` driving the port (created lazily, inside the event
    loop; ``aclose`` closes it and the port, and a later call opens a new client over a
    port that must reopen itself). Redirects are never followed: one could resend a
    write to another URL, and brokers do not redirect their APIs. ``trust_env`` lets
    httpx route a proxy from the environment around the port (production only).

    Raises the port's ``httpx.HTTPError`` and ``ResponseTooLargeError``.
    """

    def __init__(self, port_factory: Callable[[], SendPort], *, timeout: httpx.Timeout,
                 max_body_bytes: int, trust_env: bool = True,
                 verify: Any = True, origin: Origin | None = None) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self._port_factory = port_factory
        self._timeout = timeout
        self.max_body_bytes = max_body_bytes
        self._trust_env = trust_env
        self._verify = verify
        self._origin = origin or Origin("broker")
        self._client: httpx.AsyncClient | None = None

    def ensure_client(self) -> httpx.AsyncClient:
        """The client, created if needed (no await in between: one pool per loop)."""
        if self._client is None:
            port = self._port_factory()
            transport = port if isinstance(port, httpx.AsyncBaseTransport) else PortAdapter(port)
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=transport,
                                             follow_redirects=False,
                                             trust_env=self._trust_env, verify=self._verify)
        return self._client

    async def aclose(self) -> None:
        """Close the client and its port. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __call__(self, call: Call) -> httpx.Response:
        client = self.ensure_client()
        request = client.build_request(call.method, call.url, params=call.params,
                                       content=call.content, data=call.data,
                                       headers=call.sent_headers)
        call.answer = None
        call.attempts += 1
        streamed = await client.send(request, stream=True)
        try:
            call.status = streamed.status_code
            call.request_id = request_id_of(streamed.headers) or call.request_id
            response = await read_capped(streamed, self.max_body_bytes)
        finally:
            await streamed.aclose()
        response.extensions = {**response.extensions, WRITE_EXTENSION: call.write}
        call.answer = response
        logger.debug("%s %s %s %s -> %d (attempt %d, request_id=%s)", self._origin.broker,
                     call.operation, call.method, call.log_path, response.status_code,
                     call.attempts, call.request_id)
        return response


# --- credentials -------------------------------------------------------------------------


class AuthHeadersLayer:
    """Builds each attempt's headers: defaults, the caller's, then fresh credentials
    (asked for after any rate-limit wait, so a token is not stale by the time it goes).
    Every credential value is remembered for scrubbing. Raises what the credential
    source raises (an ``AuthError`` when it cannot produce credentials)."""

    def __init__(self, credentials: CredentialSource, *, default_headers: Mapping[str, str],
                 secrets: SecretSet) -> None:
        self._credentials = credentials
        self._default_headers = dict(default_headers)
        self._secrets = secrets

    async def __call__(self, call: Call, send: Handler) -> httpx.Response:
        auth = await self._credentials.auth_headers()
        self._secrets.remember(auth.values())
        headers = httpx.Headers(self._default_headers)
        headers.update(call.headers or {})
        headers.update(auth)
        if call.content is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        call.sent_headers = headers
        return await send(call)


class ReauthLayer:
    """After a 401, tells the credential source (which may refresh its token) once per
    call; a read is then sent again once, a write never (its next call will use the new
    token). Re-raises the mapped error otherwise."""

    def __init__(self, credentials: CredentialSource, *, origin: Origin) -> None:
        self._credentials = credentials
        self._origin = origin

    async def __call__(self, call: Call, send: Handler) -> httpx.Response:
        try:
            return await send(call)
        except BrokerError:
            if call.reauthenticated or call.answer is None or call.answer.status_code != 401:
                raise
            call.reauthenticated = True
            refreshed = await self._credentials.on_unauthorized()
            if not refreshed or call.write:
                raise
        logger.info("%s %s: 401, credentials refreshed; retrying once", self._origin.broker,
                    call.operation)
        return await send(call)


# --- rate limits ---------------------------------------------------------------------------


class RateLimitLayer:
    """Takes a token from the call's bucket before each attempt, then lets the answer
    steer the bucket: its remaining/reset headers, and a 429's retry-after (as the
    error mapping read it) pauses every caller of the bucket. No bucket: no wait."""

    async def __call__(self, call: Call, send: Handler) -> httpx.Response:
        limiter = call.limiter
        if limiter is None:
            return await send(call)
        await limiter.acquire()
        try:
            return await send(call)
        finally:
            if call.answer is not None:
                limiter.update_from_headers(call.answer.headers)
            if call.retry_after is not None:
                limiter.pause_for(call.retry_after)


# --- error mapping -----------------------------------------------------------------------


class ErrorMappingLayer:
    """Turns every failure of one attempt into a typed ``BrokerError`` and returns only
    a response whose status the call expects.

    * A transport failure: ``BrokerConnectionError`` when nothing can have been sent
      (or for any read); ``RequestTimeoutError`` for a write that may have left.
    * A body over the cap: ``UnexpectedResponseError`` (read) or
      ``UnreadableAcknowledgementError`` (write, ambiguous).
    * A write answered 408/500/502/504: ``RequestTimeoutError`` (ambiguous).
    * Any other unexpected status: the adapter's ``ErrorMapper``, else
      ``default_error_for``; a failing mapper falls back to the default. A 429's
      retry-after (the mapper's, else the headers') is recorded on the call.

    Messages carry the redacted, truncated body and never a secret.
    """

    def __init__(self, *, origin: Origin, secrets: SecretSet,
                 error_mapper: ErrorMapper | None = None) -> None:
        self._origin = origin
        self._secrets = secrets
        self._mapper = error_mapper

    async def __call__(self, call: Call, send: Handler) -> httpx.Response:
        call.retry_after = None
        try:
            response = await send(call)
        except ResponseTooLargeError as exc:
            raise self._too_large(call, exc) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, call) from exc
        status = response.status_code
        if status in call.expected:
            return response
        if call.write and status in AMBIGUOUS_WRITE_STATUSES:
            raise self.ambiguous(
                f"{self._origin.broker} {call.operation} got HTTP {status} from a gateway "
                "that stopped waiting", call, http_status=status)
        error = self._map_error(response, call)
        retry_after = error.retry_after if isinstance(error, RateLimitError) else None
        if status == 429 and retry_after is None:
            # The mapper may know more (a body field); the headers are the fallback.
            retry_after = retry_after_from_headers(response.headers, now=utc_now())
        call.retry_after = retry_after
        raise error

    def ambiguous(self, what: str, call: Call, *, http_status: int | None = None,
                  kind: type[RequestTimeoutError] = RequestTimeoutError) -> RequestTimeoutError:
        """The error for a write whose outcome is unknown: reconcile, never resend."""
        ref = f"client order id {call.client_order_id}" if call.client_order_id \
            else "fingerprint"
        return kind(
            f"{what}. The broker may have acted: reconcile by {ref}, do not resend",
            client_order_id=call.client_order_id, broker=self._origin.broker,
            connection_id=self._origin.connection_id, http_status=http_status,
            request_id=call.request_id)

    def _too_large(self, call: Call, exc: ResponseTooLargeError) -> BrokerError:
        what = (f"{self._origin.broker} {call.operation} ({call.method} {call.log_path}) "
                f"answered a body too large to read: {exc}")
        if call.write:
            return self.ambiguous(what, call, http_status=exc.status,
                                  kind=UnreadableAcknowledgementError)
        return UnexpectedResponseError(
            f"{what}. Reading stopped at the cap; report it if it persists",
            broker=self._origin.broker, connection_id=self._origin.connection_id,
            http_status=exc.status, request_id=call.request_id)

    def _transport_error(self, exc: httpx.HTTPError, call: Call) -> BrokerError:
        # httpx messages rarely carry more than an errno text, but scrub them anyway.
        cause = f"{type(exc).__name__}: {self._secrets.redact(str(exc))[:200]}".rstrip(": ")
        what = (f"{self._origin.broker} {call.operation} ({call.method} {call.log_path}) "
                f"failed: {cause}")
        if isinstance(exc, NOT_SENT):
            suffix = ("Nothing was sent; it is safe to try again later" if call.write
                      else "Check the network or the broker's status; retry later")
            return BrokerConnectionError(f"{what}. {suffix}", broker=self._origin.broker,
                                         connection_id=self._origin.connection_id)
        if call.write:
            # Read/write timeouts, dropped connections, protocol errors: the request may
            # have been received and acted on even though no complete answer came back.
            return self.ambiguous(what, call)
        return BrokerConnectionError(f"{what}. The broker did not answer; retry later",
                                     broker=self._origin.broker,
                                     connection_id=self._origin.connection_id)

    def _map_error(self, response: httpx.Response, call: Call) -> BrokerError:
        text = redact_body(_text_of(response), self._secrets, MAX_BODY_CHARS)
        body: object = text
        try:
            parsed = jsonlib.loads(response.content, parse_float=Decimal)
            # Structure and Decimal types kept for the mapper; known secrets scrubbed.
            body = scrub_values(parsed, self._secrets)
        except (ValueError, RecursionError):
            # Not JSON, not UTF-8, or nested past what a parser should follow: the
            # mapper gets the redacted text.
            body = text
        error_response = ErrorResponse(
            status=response.status_code, body=body, text=text, headers=response.headers,
            operation=call.operation, broker=self._origin.broker,
            connection_id=self._origin.connection_id, request_id=call.request_id,
            client_order_id=call.client_order_id)
        mapped: BrokerError | None = None
        if self._mapper is not None:
            try:
                mapped = self._mapper(error_response)
            except Exception:
                # A buggy mapper must not hide the broker's answer; fall back to the default.
                logger.exception("%s error mapper failed for %s; using default mapping",
                                 self._origin.broker, call.operation)
        return mapped if mapped is not None else default_error_for(error_response)


def _text_of(response: httpx.Response) -> str:
    # ``response.text`` guesses a charset and may raise on a bogus one; the body of an
    # error is only ever quoted, so undecodable bytes become replacement characters.
    return response.content.decode("utf-8", "replace")


# --- retries -------------------------------------------------------------------------------


class ReadRetryLayer:
    """Repeats a read per ``policy``: after a transport failure (no answer), or an
    answer with a retryable status (408, 429, 5xx) whose mapped error agrees it is
    retryable and whose retry-after the policy will wait out. A write is never repeated.
    Raises the last attempt's error."""

    def __init__(self, policy: RetryPolicy, *, origin: Origin) -> None:
        self._policy = policy
        self._origin = origin

    def should_retry(self, call: Call, error: BrokerError) -> bool:
        """Whether ``error`` from the latest attempt of ``call`` is worth repeating."""
        if call.write:
            return False
        if call.answer is None:
            return isinstance(error, BrokerConnectionError)
        return (call.answer.status_code in RETRYABLE_READ_STATUSES and error.retryable
                and self._policy.should_wait_out(call.retry_after))

    async def __call__(self, call: Call, send: Handler) -> httpx.Response:
        failures = 0  # attempts that count against RetryPolicy.max_attempts
        while True:
            try:
                return await send(call)
            except BrokerError as error:
                failures += 1
                if failures >= self._policy.max_attempts or not self.should_retry(call, error):
                    raise
                delay = self._policy.delay_for(failures, call.retry_after)
                what = (f"HTTP {call.answer.status_code}" if call.answer is not None
                        else type(error.__cause__ or error).__name__)
                logger.warning("%s %s %s: %s on attempt %d; retrying in %.3fs",
                               self._origin.broker, call.operation, call.method, what,
                               call.attempts, delay)
            await self._policy.sleep(delay)


# --- audit ---------------------------------------------------------------------------------


class AuditLayer:
    """Records one ``RequestAuditEvent`` per logical call, after its last attempt, with
    the outcome (``"ok"`` or the raised exception's class name). A failing sink is
    logged (redacted) and otherwise ignored: losing an audit record is bad, turning a
    placed order into an error is worse."""

    def __init__(self, sink: AuditSink, *, origin: Origin, secrets: SecretSet) -> None:
        self._sink = sink
        self._origin = origin
        self._secrets = secrets

    async def __call__(self, call: Call, send: Handler) -> httpx.Response:
        try:
            return await send(call)
        except BaseException as exc:
            call.outcome = type(exc).__name__
            raise
        finally:
            await self._emit(call)

    async def _emit(self, call: Call) -> None:
        elapsed = Decimal(str(time.perf_counter() - call.started)) * 1000
        event = RequestAuditEvent(
            connection_id=self._origin.connection_id, broker=self._origin.broker,
            operation=call.operation, method=call.method, path=call.log_path,
            request_summary=scrub_values(call.summary, self._secrets), status=call.status,
            latency_ms=elapsed.quantize(Decimal("0.001")), outcome=call.outcome,
            request_id=call.request_id, client_order_id=call.client_order_id,
            at=call.started_at, attempts=call.attempts, write=call.write)
        try:
            await self._sink.record(event)
        except Exception as exc:
            logger.error("audit sink failed for %s %s: %s: %s", self._origin.broker,
                         call.operation, type(exc).__name__, self._secrets.redact(str(exc))[:200])


__all__ = [
    "AMBIGUOUS_WRITE_STATUSES",
    "NOT_SENT",
    "REQUEST_ID_HEADERS",
    "RETRYABLE_READ_STATUSES",
    "WRITE_EXTENSION",
    "AuditLayer",
    "AuthHeadersLayer",
    "Call",
    "ErrorMappingLayer",
    "Handler",
    "Layer",
    "Origin",
    "PortSender",
    "RateLimitLayer",
    "ReadRetryLayer",
    "ReauthLayer",
    "compose",
    "request_id_of",
]
