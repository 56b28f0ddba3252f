"""A tiny HTTP/1.1 server on a loopback socket that answers each (method, path) with
exactly the bytes it is told to, malformed ones included, and records what it got."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole HTTP/1.1 request (head and ``Content-Length`` body), or ``None`` once
    the client has closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + (await reader.readexactly(length) if length else b"")


@dataclass(frozen=True)
class Answer:
    """One response: status, raw body bytes, content type."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class LoopbackServer:
    """``async with LoopbackServer({("GET", "/x"): Answer(...)}) as server:`` then send
    to ``server.url``. Unknown routes answer 404. ``requests`` holds each request line."""

    answers: dict[tuple[str, str], Answer]
    requests: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def count(self, method: str, path: str) -> int:
        return sum(1 for line in self.requests if line.startswith(f"{method} {path}"))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await read_request(reader)) is not None:
                line = request.split(b"\r\n", 1)[0].decode()
                self.requests.append(line)
                method, target = line.split(" ")[:2]
                answer = self.answers.get((method, target.split("?", 1)[0]),
                                          Answer(404, b'{"message":"not found"}'))
                head = (f"HTTP/1.1 {answer.status} X\r\n"
                        f"Content-Type: {answer.content_type}\r\n"
                        f"Content-Length: {len(answer.body)}\r\n\r\n").encode()
                writer.write(head + answer.body)
                await writer.drain()
        finally:
            writer.close()


DEEP = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
DEEP_LIST = b"[" * 200_000
HTML = b"<!doctype html><html><body><h1>Request accepted</h1></body></html>"

MALFORMED_BODIES: dict[str, bytes] = {
    "empty_object": b"{}",
    "empty": b"",
    "null": b"null",
    "list": b"[]",
    "deep_object": DEEP,
    "deep_unclosed": DEEP_LIST,
    "truncated": b'{"id":"61e69015-8549-4bfd-b9c3-01e75843f47d","client_order_id":"x","st',
    "html": HTML,
    "invalid_utf8": b'{"id":"\xff\xfe"}',
    "wrong_types": b'{"id":{"x":1},"client_order_id":[1],"status":3,"time_in_force":null}',
    "huge_int": b'{"n":' + b"9" * 5000 + b"}",
    "nan": b'{"qty": NaN}',
}
"""Answers no wire model accepts, by the name a test id shows."""
