"""``EmulatorServer``: a real uvicorn server on 127.0.0.1, for tests and the CLI.

Async (the server runs as a task in the current loop)::

    async with EmulatorServer(app) as server:
        httpx.get(server.url + "/v2/clock")        # server.ws_url for websockets

Threaded (its own loop in a daemon thread, for a broker's synchronous SDK)::

    with EmulatorServer.run_in_thread(app) as server:
        TradingClient(key, secret, url_override=server.url)

The listening socket is bound before uvicorn starts (port 0 picks a free port), so
``url`` is known at once and early connections wait in the backlog. uvicorn runs with
``ExposingH11Protocol``, which puts each connection's asyncio transport in
``scope["extensions"]["brokerlink.transport"]``: the fault middleware needs it to close
a TCP connection without answering. Signal handling is left to the caller, except in
``serve_forever`` (the CLI), where Ctrl-C stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import Any, Self

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from brokerlink.emulators._shared.faults import TRANSPORT_EXTENSION, Receive, Scope, Send

STARTUP_TIMEOUT = 10.0


class ExposingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the connection's transport to the ASGI app."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn wants Transport
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            extensions = dict(scope.get("extensions") or {})
            extensions[TRANSPORT_EXTENSION] = transport
            scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handlers alone (tests own the main thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio turns on TCP_NODELAY only for sockets whose proto
    # says TCP, and accepted sockets inherit it. Without it Nagle's algorithm meets the
    # client's delayed ACK and every small response waits ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class EmulatorServer:
    """Serves an ASGI app with a real uvicorn server (see the module docstring).

    ``url`` and ``ws_url`` (``http://127.0.0.1:PORT`` / ``ws://...``) are valid once the
    socket is bound (on entry). Raises ``OSError`` if the port is taken and
    ``RuntimeError`` if uvicorn fails to start.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", handle_signals: bool = False) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.log_level = log_level
        self.handle_signals = handle_signals
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self._socket is not None else "not started"
        return f"EmulatorServer({where})"

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app, host=self.host, port=self.port, http=ExposingH11Protocol,
            ws="websockets-sansio", lifespan="off", log_level=self.log_level,
            access_log=False, timeout_graceful_shutdown=2, ws_ping_interval=None,
            # The app stamps Date from the virtual clock (see ClockMiddleware).
            date_header=False)

    async def start(self) -> None:
        """Bind, start uvicorn as a task in the running loop and wait until it serves."""
        self._socket = _bind(self.host, self.requested_port)
        config = self._config()
        server_class = uvicorn.Server if self.handle_signals else _QuietServer
        self._server = server_class(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        # uvicorn exposes readiness only as a flag: poll it, bounded, with a tiny pause.
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped during startup")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("uvicorn did not start in time")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop serving and wait for uvicorn to finish. Idempotent."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is not None and task is not None:
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=5)
            except TimeoutError:
                server.force_exit = True
                await task
        if self._socket is not None:
            self._socket.close()

    async def serve_forever(self) -> None:
        """Serve until cancelled or (with ``handle_signals``) Ctrl-C."""
        if self._task is None:
            await self.start()
        assert self._task is not None  # noqa: S101  (start() set it)
        try:
            await self._task
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def run_in_thread(cls, app: Any, *, host: str = "127.0.0.1",
                      port: int = 0) -> Iterator[EmulatorServer]:
        """Run the server on its own event loop in a daemon thread while the block runs.
        Raises what ``start`` raises."""
        server = cls(app, host=host, port=port)
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        stop = asyncio.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await server.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            await stop.wait()
            await server.stop()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),),
                                  name="emulator-server", daemon=True)
        thread.start()
        ready.wait(STARTUP_TIMEOUT + 5)
        if failure:
            thread.join()
            loop.close()
            raise failure[0]
        try:
            yield server
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
