"""A loopback HTTP server that answers every request with one hostile response.

Until a case is armed it is a plain reverse proxy to an upstream (the broker's emulator),
so an adapter can connect for real first; then every request gets the armed case's
answer. It counts the body bytes it managed to hand to the kernel per request, so a test
can check the client stopped reading a huge body near its cap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

CHUNK = 256 * 1024


@dataclass(frozen=True)
class Case:
    """One hostile answer: ``status``, extra ``headers`` and a ``body``; ``endless``
    streams zero-padded JSON with chunked framing until the client goes away, and
    ``close_after`` cuts the connection after the body (for a truncated one)."""

    name: str
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    endless: bool = False
    declared_length: int | None = None
    close_after: bool = False

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Seen:
    """A request the server answered: what it was and how many body bytes went out."""

    method: str
    target: str
    status: int | None = None
    body_bytes_sent: int = 0


@dataclass
class HostileServer:
    upstream: str | None = None
    case: Case | None = None
    seen: list[Seen] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _client: httpx.AsyncClient | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._client = httpx.AsyncClient(timeout=10.0)
        host, port = self._server.sockets[0].getsockname()[:2]
        try:
            yield f"http://{host}:{port}"
        finally:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            await self._client.aclose()

    def arm(self, case: Case | None) -> None:
        self.case = case
        self.seen.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                case = self.case
                if case is None:
                    await self._proxy(writer, method, target, headers, body)
                    continue
                seen = Seen(method, target, case.status)
                self.seen.append(seen)
                if not await _answer(writer, case, seen.__setattr__):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _proxy(self, writer: asyncio.StreamWriter, method: str, target: str,
                     headers: list[tuple[str, str]], body: bytes) -> None:
        assert self._client is not None
        assert self.upstream is not None
        forwarded = [(k, v) for k, v in headers
                     if k.lower() not in ("host", "content-length", "connection")]
        answer = await self._client.request(method, self.upstream + target, headers=forwarded,
                                            content=body)
        keep = [(k, v) for k, v in answer.headers.multi_items()
                if k.lower() not in ("content-length", "transfer-encoding", "content-encoding",
                                     "connection")]
        await _write(writer, answer.status_code, keep, answer.content)


async def _read_request(
        reader: asyncio.StreamReader) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, _, v in
               (line.partition(":") for line in lines[1:] if line)]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _write(writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]],
                 body: bytes) -> None:
    writer.write(_head(status, [*headers, ("Content-Length", str(len(body)))]) + body)
    await writer.drain()


async def _answer(writer: asyncio.StreamWriter, case: Case,
                  record: Callable[[str, int], None]) -> bool:
    """Send ``case``; True if the connection may serve another request."""
    headers = list(case.headers)
    if case.endless:
        writer.write(_head(case.status, [*headers, ("Transfer-Encoding", "chunked")])
                     + b"1\r\n[\r\n")
        sent = 1
        filler = b"%x\r\n%s\r\n" % (CHUNK, b"0," * (CHUNK // 2))
        # Until the client closes (drain raises) or a far bound, so a broken client
        # cannot keep the server busy forever.
        while sent < 1024 * 1024 * 1024:
            writer.write(filler)
            await writer.drain()
            sent += CHUNK
            record("body_bytes_sent", sent)
        return False
    if case.declared_length is not None:
        headers.append(("Content-Length", str(case.declared_length)))
        writer.write(_head(case.status, headers) + case.body)
        await writer.drain()
        record("body_bytes_sent", len(case.body))
        return False
    if case.close_after:
        writer.write(_head(case.status, [*headers, ("Connection", "close")]) + case.body)
    else:
        writer.write(_head(case.status, [*headers, ("Content-Length", str(len(case.body)))])
                     + case.body)
    await writer.drain()
    record("body_bytes_sent", len(case.body))
    return not case.close_after
