"""A small Tradier-shaped HTTP/1.1 server on a loopback socket, for answers no emulator
gives: every route's status and body are set by the test, byte for byte.

It serves the profile (so a ``TradierBroker`` connects for real), one known order, and
whatever the test scripts with ``answer``; everything else is Tradier's 404. Every
request is recorded, so a test can check a write was sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

ACCOUNT = "VA000001"
ORDER_ID = 4242

PROFILE = {"profile": {"id": "id-1", "name": "Hostile Test", "account": {
    "account_number": ACCOUNT, "classification": "individual", "day_trader": False,
    "option_level": 2, "status": "active", "type": "margin"}}}

ORDER = {"order": {"id": ORDER_ID, "type": "limit", "symbol": "KO", "side": "buy",
                   "quantity": 1.0, "status": "open", "duration": "day", "price": 50.0,
                   "avg_fill_price": 0.0, "exec_quantity": 0.0,
                   "create_date": "2026-11-23T15:00:00.000Z",
                   "transaction_date": "2026-11-23T15:00:00.000Z", "class": "equity",
                   "tag": "bl-known"}}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class RawTradier:
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, method: str, path: str, status: int, body: bytes | object, *,
               content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[(method, path)] = Answer(status, raw, content_type)

    def sent(self, method: str, path: str) -> int:
        return sum(1 for seen in self.requests if seen == (method, path))

    def _route(self, method: str, path: str) -> Answer:
        scripted = self.answers.get((method, path))
        if scripted is not None:
            return scripted
        if (method, path) == ("GET", "/v1/user/profile"):
            return Answer(200, json.dumps(PROFILE).encode())
        if (method, path) == ("GET", f"/v1/accounts/{ACCOUNT}/orders/{ORDER_ID}"):
            return Answer(200, json.dumps(ORDER).encode())
        return Answer(404, b'{"errors": {"error": "Not found"}}')

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        try:
            yield f"http://{host}:{port}"
        finally:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = next((int(v) for k, _, v in (line.partition(":") for line in lines)
                               if k.strip().lower() == "content-length"), 0)
                if length:
                    await reader.readexactly(length)
                path = target.split("?", 1)[0]
                self.requests.append((method, path))
                answer = self._route(method, path)
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\nContent-Type: {answer.content_type}\r\n"
                    f"Date: Mon, 23 Nov 2026 15:00:00 GMT\r\n"
                    f"Content-Length: {len(answer.body)}\r\n\r\n".encode() + answer.body)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()
