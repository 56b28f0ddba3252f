"""Test doubles for the transport suite: a scripted ASGI app, raw TCP servers that
misbehave on purpose, a fake clock and credential sources."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    """One scripted response. ``body`` wins over ``json`` when both are given."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.json is None:
            return b""
        return json.dumps(self.json).encode()


@dataclass(frozen=True)
class Recorded:
    """A request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client_port: int | None


class ScriptedApp:
    """An ASGI app answering each (method, path) from a script; the last reply repeats.

    Unscripted routes answer 404. Every request is recorded in ``requests``.
    """

    def __init__(self) -> None:
        self._scripts: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[Recorded] = []

    def reset(self) -> None:
        self._scripts.clear()
        self.requests.clear()

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self._scripts[(method.upper(), path)] = list(replies)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method.upper() and r.path == path)

    def _next(self, method: str, path: str) -> Reply:
        replies = self._scripts.get((method, path))
        if not replies:
            return Reply(404, json={"message": "not found"})
        return replies.pop(0) if len(replies) > 1 else replies[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        client = scope.get("client")
        self.requests.append(
            Recorded(
                method=scope["method"],
                path=scope["path"],
                query=scope["query_string"].decode(),
                headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
                body=body,
                client_port=client[1] if client else None,
            )
        )
        reply = self._next(scope["method"], scope["path"])
        payload = reply.payload()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole HTTP/1.1 request (head and ``Content-Length`` body) as sent, or
    ``None`` once the client has closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + (await reader.readexactly(length) if length else b"")


class RawServer:
    """A TCP server that reads one whole HTTP request, records it, then misbehaves:
    ``drop`` closes the connection without a byte of response; ``hang`` never answers."""

    def __init__(self, mode: Literal["drop", "hang"]) -> None:
        self.mode = mode
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                if self.mode == "hang":
                    await self._release.wait()
                return
        finally:
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)


def closed_port_url() -> str:
    """A loopback URL on a port nothing listens on (connect is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeClock:
    """Monotonic and wall time that move only when someone sleeps on this clock."""

    WALL_START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return self.WALL_START + timedelta(seconds=self.now - self.start)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


class RecordingSleep:
    """An injectable sleep that records delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class RefreshingToken:
    """A credential source that rotates to its next token when told about a 401."""

    def __init__(self, *tokens: str, can_refresh: bool = True) -> None:
        self._tokens = list(tokens)
        self.can_refresh = can_refresh
        self.unauthorized_calls = 0

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._tokens[0]}"}

    async def on_unauthorized(self) -> bool:
        self.unauthorized_calls += 1
        if self.can_refresh and len(self._tokens) > 1:
            self._tokens.pop(0)
            return True
        return False


__all__ = [
    "FakeClock",
    "RawServer",
    "Recorded",
    "RecordingSleep",
    "RefreshingToken",
    "Reply",
    "ScriptedApp",
    "closed_port_url",
    "read_request",
]
