"""The one place a ``Transport`` hands bytes to the network: the send port.

A send port is httpx's transport interface, ``handle_async_request(request) ->
response`` plus ``aclose()``: ``AiohttpTransport`` in production, an in-memory fake in
tests (any ``httpx.AsyncBaseTransport`` fits, e.g. ``httpx.MockTransport``). Everything
else the transport does (credentials, rate limits, read retries, error mapping, audit)
is a layer around it (``layers.py``).

A port may stream the body; the transport reads it here, incrementally, under a size
cap (``read_capped``), so a hostile or broken server cannot make it hold more than the
cap in memory.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import httpx

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""16 MiB: far above any broker answer (a 500-order page is well under 1 MiB), far below
what would hurt a process holding hundreds of connections."""

# Headers describing the encoded bytes on the wire, which no longer describe a body
# that has been decoded.
_ENCODING_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


@runtime_checkable
class SendPort(Protocol):
    """Sends one HTTP request and returns its response (the body possibly streamed).

    Raises ``httpx.ConnectError``/``ConnectTimeout``/``UnsupportedProtocol`` only when
    no byte of the request can have left; any other ``httpx.HTTPError`` means it may
    have been received. Sends each request at most once. After ``aclose`` a port must
    accept new requests (it reopens), because a closed ``Transport`` may be reused."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` once and return the response as soon as its head is in."""
        ...

    async def aclose(self) -> None:
        """Release the port's connections."""
        ...


class PortAdapter(httpx.AsyncBaseTransport):
    """Lets ``httpx.AsyncClient`` drive any ``SendPort`` (it wants the base class)."""

    def __init__(self, port: SendPort) -> None:
        self.port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.port.handle_async_request(request)

    async def aclose(self) -> None:
        await self.port.aclose()


class ResponseTooLargeError(Exception):
    """A response body was larger than the transport's cap; reading stopped at the cap.

    Internal to the transport, which turns it into ``UnexpectedResponseError`` (a read)
    or ``UnreadableAcknowledgementError`` (a write). ``declared`` is the Content-Length
    when the server announced one, ``read`` the (decoded) bytes read before giving up."""

    def __init__(self, *, status: int, limit: int, read: int, declared: int | None) -> None:
        size = f"declared {declared} bytes" if declared is not None else f"over {read} bytes"
        super().__init__(f"HTTP {status} body {size}; the cap is {limit} bytes")
        self.status = status
        self.limit = limit
        self.read = read
        self.declared = declared


def _declared_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None or not raw.strip().isdigit():
        return None  # absent or malformed: the read itself enforces the cap
    return int(raw.strip())


async def read_capped(response: httpx.Response, limit: int) -> httpx.Response:
    """Read ``response``'s body, decoded, and return a complete response holding it.

    Stops as soon as more than ``limit`` decoded bytes arrived (or at once when
    Content-Length announces more), so neither a huge body nor a decompression bomb is
    held in memory. The caller closes ``response``. When the body was content-encoded,
    the returned response carries it decoded, without the encoding headers.

    Raises ``ResponseTooLargeError`` over the cap, and whatever the port's stream raises
    (``httpx.HTTPError``) if reading fails.
    """
    declared = _declared_length(response)
    status = response.status_code
    encoded = "content-encoding" in response.headers
    if declared is not None and declared > limit:
        raise ResponseTooLargeError(status=status, limit=limit, read=0, declared=declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(status=status, limit=limit, read=size,
                                        declared=declared)
        chunks.append(chunk)
    headers = response.headers.raw
    if encoded:
        headers = [(k, v) for k, v in headers if k.lower() not in _ENCODING_HEADERS]
    return httpx.Response(status, headers=headers, content=b"".join(chunks),
                          request=response.request, extensions=response.extensions)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "PortAdapter", "ResponseTooLargeError", "SendPort",
           "read_capped"]
