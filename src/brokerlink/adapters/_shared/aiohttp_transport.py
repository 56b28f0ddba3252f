"""``AiohttpTransport``: httpx's client API over aiohttp's connection pool.

Adapters speak httpx (``httpx.Request``, ``Response``, its exception types); this send
port moves the bytes with aiohttp instead of httpcore. aiohttp parses HTTP/1.1 in C
(llhttp): a request costs the client about 0.4 ms less CPU, which is most of a
consolidated read over hundreds of connections (``bench.portfolio_scale``).

Three things the swap must not change, which is why this is not a thin wrapper:

* **What an error says about a write.** ``Transport`` treats ``ConnectError``,
  ``ConnectTimeout`` and ``UnsupportedProtocol`` as "nothing was sent" and everything
  else as "may have been received". Only aiohttp errors raised before a byte of the
  request can have left (connecting, TLS, waiting for a pooled connection, a bad URL)
  map to the former; a dropped connection, a reset, a read timeout or a malformed
  response map to ``RemoteProtocolError``/``ReadError``/``ReadTimeout``.
* **Every request is sent at most once by this port.** aiohttp resends GET, HEAD,
  OPTIONS, TRACE, PUT and DELETE once when the server drops the connection or a socket
  error follows the send, and it does so on a *fresh* connection too (with
  ``Connection: close`` or ``force_close``), so a pool-free write path would not help.
  A cancel or a Tradier modify is a PUT or DELETE. aiohttp offers no public switch
  (aio-libs/aiohttp#10790); what it does offer is client middleware, which runs inside
  its resend loop, once per attempt. ``_SendOnce``, passed per request, lets the first
  attempt through and refuses any second one before it reaches the connector, so
  ``Transport``'s own retry policy (which never repeats a write) alone decides.
* **The body is streamed, not read whole.** The response is handed back as soon as its
  head arrives, with a byte stream that reads the socket as the caller consumes it, so
  the caller's size cap bounds memory (aiohttp pauses the socket when its 64 KiB buffer
  is full). Failures while reading the body are mapped like any other.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from yarl import URL

_HEADERS_AIOHTTP_SETS = frozenset({"content-length", "transfer-encoding"})
"""Framing headers aiohttp writes from the body it sends: passing httpx's too would
send them twice."""

DEFAULT_KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle pooled connection is kept, as httpx's own pool does."""

_CHUNK = 64 * 1024
"""Bytes per chunk handed up while streaming a body (aiohttp's own read buffer size)."""


class _ResendRefused(aiohttp.ClientError):
    """aiohttp tried to send a request a second time; ``first`` is why the first failed."""

    def __init__(self, first: BaseException | None) -> None:
        super().__init__(f"resend refused after {type(first).__name__}")
        self.first = first


class _SendOnce:
    """A per-request aiohttp client middleware that lets exactly one attempt through.

    aiohttp calls middleware once per attempt inside its resend loop, before the
    connector is asked for a connection, so refusing the second call means the request
    never leaves twice whatever aiohttp's resend rules are."""

    __slots__ = ("_first_error", "_used")

    def __init__(self) -> None:
        self._used = False
        self._first_error: BaseException | None = None

    async def __call__(self, request: aiohttp.ClientRequest,
                       handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        if self._used:
            raise _ResendRefused(self._first_error)
        self._used = True
        try:
            return await handler(request)
        except BaseException as exc:
            self._first_error = exc
            raise


def _as_httpx(exc: BaseException, request: httpx.Request) -> httpx.HTTPError | None:
    """The httpx exception saying the same as aiohttp's ``exc`` about whether the request
    left, or None for an exception that is not a transport failure."""
    if isinstance(exc, _ResendRefused):
        # The refused resend sent nothing: what the first attempt did is the answer.
        first = exc.first
        mapped = _as_httpx(first, request) if first is not None else None
        return mapped or httpx.ReadError(str(exc), request=request)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # connecting or waiting for the pool
        return httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake, proxy
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(str(exc), request=request)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out reading the response", request=request)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError(str(exc), request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request)
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        # A reset, a write to a closed socket, anything else: the request may have
        # reached the broker, so nothing may call it unsent.
        return httpx.ReadError(f"{type(exc).__name__}: {exc}".rstrip(": "), request=request)
    return None


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's failures as the matching httpx exception (see ``_as_httpx``)."""
    try:
        yield
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        mapped = _as_httpx(exc, request)
        if mapped is None:  # pragma: no cover - every caught type is mapped above
            raise
        raise mapped from exc


def _client_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    connect, pool = timeout.get("connect"), timeout.get("pool")
    # aiohttp's ``connect`` covers waiting for a pooled connection and opening one.
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect,
                                 sock_read=timeout.get("read"))


class _StreamedBody(httpx.AsyncByteStream):
    """An aiohttp response body read chunk by chunk as httpx consumes it.

    ``aclose`` hands a fully read connection back to the pool and closes one whose body
    was abandoned (the unread rest would otherwise be read by the next request)."""

    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._answer.content.iter_chunked(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        if self._answer.content.at_eof():
            self._answer.release()
        else:
            self._answer.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` (a ``SendPort``) over one aiohttp connection pool.

    ``max_connections`` caps concurrent connections (``None``: no cap), as
    ``httpx.Limits`` does; idle ones close after ``keepalive_expiry`` seconds. The
    aiohttp session is created on the first request, inside the running event loop,
    and closed by ``aclose``; a request after that opens a new one. Responses are
    streamed: the caller must read or close them (``httpx.AsyncClient`` does).
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int | None = 100,
                 keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY) -> None:
        self._ssl = ssl_context
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections or 0, limit_per_host=0, ssl=self._ssl,
                keepalive_timeout=self._keepalive_expiry)
            # trust_env stays off: httpx has already routed proxied URLs elsewhere.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  trust_env=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._ensure_session()
        body = await request.aread()
        headers = [(name, value) for name, value in request.headers.multi_items()
                   if name.lower() not in _HEADERS_AIOHTTP_SETS]
        # httpx has already encoded the URL: aiohttp must send it as is.
        url = URL(str(request.url), encoded=True)
        with _httpx_errors(request):
            answer = await session.request(
                request.method, url, headers=headers, data=body or None,
                allow_redirects=False, timeout=_client_timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
                middlewares=(_SendOnce(),))
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode("latin-1", "replace")
        # A byte stream, not ``content=``: httpx then decodes any Content-Encoding itself.
        return httpx.Response(answer.status, headers=list(answer.raw_headers),
                              stream=_StreamedBody(answer, request), request=request,
                              extensions=extensions)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


__all__ = ["DEFAULT_KEEPALIVE_EXPIRY", "AiohttpTransport"]
