"""``AiohttpTransport``: httpx's client API over aiohttp's connection pool.

Adapters speak httpx (``httpx.AsyncClient``, ``Request``, ``Response``, its exception
types); this transport moves the bytes with aiohttp instead of httpcore. aiohttp parses
HTTP/1.1 in C (llhttp): a request costs the client about 0.4 ms less CPU, which is most
of a consolidated read over hundreds of connections (``bench.portfolio_scale``).

Two things the swap must not change, which is why this is not a thin wrapper:

* **What an error says about a write.** ``Transport`` treats ``ConnectError``,
  ``ConnectTimeout`` and ``UnsupportedProtocol`` as "nothing was sent" and everything
  else as "may have been received". Only aiohttp errors raised before a byte of the
  request can have left (connecting, TLS, waiting for a pooled connection, a bad URL)
  map to the former; a dropped connection, a reset, a read timeout or a malformed
  response map to ``RemoteProtocolError``/``ReadError``/``ReadTimeout``.
* **Writes are sent at most once.** aiohttp silently resends GET, PUT and DELETE once
  when a kept-alive connection drops; a cancel or a Tradier modify is a PUT or DELETE,
  so that resend is switched off and ``Transport``'s own retry policy (which never
  repeats a write) decides.

The whole body is read here, so a failure while reading it is mapped like any other.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
from yarl import URL

_HEADERS_AIOHTTP_SETS = frozenset({"content-length", "transfer-encoding"})
"""Framing headers aiohttp writes from the body it sends: passing httpx's too would
send them twice."""

DEFAULT_KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle pooled connection is kept, as httpx's own pool does."""


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's failures as the httpx exception saying the same about whether
    the request left."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # connecting or waiting for the pool
        raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake, proxy
        raise httpx.ConnectError(str(exc), request=request) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except aiohttp.SocketTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "timed out reading the response",
                                request=request) from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__,
                                        request=request) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        # A reset, a write to a closed socket, anything else: the request may have
        # reached the broker, so nothing may call it unsent.
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}".rstrip(": "),
                              request=request) from exc


def _client_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    connect, pool = timeout.get("connect"), timeout.get("pool")
    # aiohttp's ``connect`` covers waiting for a pooled connection and opening one.
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect,
                                 sock_read=timeout.get("read"))


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` sending over one aiohttp connection pool.

    ``max_connections`` caps concurrent connections (``None``: no cap), as
    ``httpx.Limits`` does; idle ones close after ``keepalive_expiry`` seconds. The
    aiohttp session is created on the first request, inside the running event loop,
    and closed by ``aclose``; a request after that opens a new one.
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
            session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                            trust_env=False)
            # aiohttp resends an "idempotent" request once when a reused connection
            # drops; for PUT and DELETE that is a second write (see the module docstring).
            session._retry_connection = False
            self._session = session
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._ensure_session()
        body = await request.aread()
        headers = [(name, value) for name, value in request.headers.multi_items()
                   if name.lower() not in _HEADERS_AIOHTTP_SETS]
        # httpx has already encoded the URL: aiohttp must send it as is.
        url = URL(str(request.url), encoded=True)
        with _as_httpx_errors(request):
            async with session.request(
                    request.method, url, headers=headers, data=body or None,
                    allow_redirects=False, timeout=_client_timeout(request),
                    server_hostname=request.extensions.get("sni_hostname")) as answer:
                content = await answer.read()
                reason = answer.reason
                status, raw_headers = answer.status, answer.raw_headers
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        # A byte stream, not ``content=``: httpx then decodes any Content-Encoding itself.
        return httpx.Response(status, headers=list(raw_headers),
                              stream=httpx.ByteStream(content), request=request,
                              extensions=extensions)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


__all__ = ["DEFAULT_KEEPALIVE_EXPIRY", "AiohttpTransport"]
