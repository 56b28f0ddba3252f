"""``StreamHub``: engine events to websocket clients, per account, in each broker's format.

The engine publishes ``SimEvent`` s synchronously (``engine.events.add_listener``). The
hub keeps one ``StreamConnection`` per open websocket, each bound to an account and an
*encoder* (the broker's own: ``SimEvent -> list of messages``, empty to skip), and queues
every encoded message on the connections of that event's account. A websocket route
then calls ``pump``::

    connection = env.streams.open(account_id, encode_trade_update)
    try:
        await env.streams.pump(websocket, connection, path="/stream", binary=True)
    finally:
        env.streams.close(connection)

``pump`` also applies the injector's stream faults to every queued message
(``FaultInjector.stream_fault``): ``stream_drop`` closes the websocket (code 1011) so clients must
reconnect; ``stream_skip`` leaves the message out and keeps the websocket open, so
clients notice nothing. Messages a route sends itself (handshakes, heartbeats, replies
to the client) are never faulted.

Events raised from another thread (a test poking ``env.engine`` while the server runs in
``EmulatorServer.run_in_thread``) are handed to the connection's loop thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from brokerlink.emulators._shared.faults import FaultInjector, FaultKind
from brokerlink.emulators._shared.jsonio import BodyError, dumps, loads
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.events import SimEvent

Encoder = Callable[[SimEvent], Sequence[Any]]
"""A broker's event encoder: the JSON-ready messages to send for one engine event."""

STREAM_DROP_CODE = 1011


class StreamConnection:
    """One subscriber: the account it follows, its encoder, and a queue of messages."""

    def __init__(self, account_id: str, encoder: Encoder) -> None:
        self.account_id = account_id
        self.encoder = encoder
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.sent = 0

    def offer(self, event: SimEvent) -> None:
        if event.account_id != self.account_id:
            return
        for message in self.encoder(event):
            if threading.get_ident() == self._thread:
                self.queue.put_nowait(message)
            else:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, message)


class StreamHub:
    """Fans engine events out to open stream connections (see the module docstring)."""

    def __init__(self, engine: SimEngine, faults: FaultInjector) -> None:
        self.engine = engine
        self.faults = faults
        self._connections: list[StreamConnection] = []
        self._listening = False

    def _on_event(self, event: SimEvent) -> None:
        for connection in list(self._connections):
            connection.offer(event)

    def open(self, account_id: str, encoder: Encoder) -> StreamConnection:
        """Start queueing ``account_id``'s events for a new connection (call from the
        server's event loop)."""
        connection = StreamConnection(account_id, encoder)
        self._connections.append(connection)
        if not self._listening:
            self.engine.events.add_listener(self._on_event)
            self._listening = True
        return connection

    def close(self, connection: StreamConnection) -> None:
        """Stop feeding ``connection``; the hub stops listening when none are left, so the
        engine's no-listener fast path comes back."""
        if connection in self._connections:
            self._connections.remove(connection)
        if not self._connections and self._listening:
            self.engine.events.remove_listener(self._on_event)
            self._listening = False

    def connection_count(self) -> int:
        return len(self._connections)

    async def pump(self, websocket: WebSocket, connection: StreamConnection, *, path: str,
                   binary: bool = False,
                   on_client_message: Callable[[str], Sequence[Any]] | None = None,
                   encode: Callable[[Any], str] = dumps) -> None:
        """Send ``connection``'s messages until the client goes away or a stream fault
        closes it. Client messages arriving meanwhile go to ``on_client_message`` (whose
        replies are sent back); without it they are ignored. ``encode`` turns a message
        into the frame's text (default: JSON with decimals as strings; a broker whose
        stream sends numbers passes its own). Honours ``stream_drop`` and
        ``stream_skip`` faults on ``path``. Returns normally; the one pump every
        emulator's websocket stream uses."""
        reader = asyncio.ensure_future(_receive_text(websocket))
        # One pending ``get`` at a time, kept across client messages: cancelling it when
        # both finish together would lose a message nobody asked to lose.
        getter: asyncio.Future[Any] | None = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(connection.queue.get())
                done, _ = await asyncio.wait({getter, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    text = reader.result()
                    if text is None:
                        return
                    for reply in (on_client_message(text) if on_client_message else ()):
                        await send_message(websocket, reply, binary=binary, encode=encode)
                    reader = asyncio.ensure_future(_receive_text(websocket))
                if getter not in done:
                    continue
                message, getter = getter.result(), None
                fault = self.faults.stream_fault(path, connection.sent)
                if fault is FaultKind.STREAM_DROP:
                    await websocket.close(code=STREAM_DROP_CODE)
                    return
                if fault is None:
                    await send_message(websocket, message, binary=binary, encode=encode)
                    connection.sent += 1
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            await cancel_pending(reader, getter)


async def cancel_pending(*futures: asyncio.Future[Any] | None) -> None:
    """Cancel a pump's pending reads (``None`` s are skipped) and wait for them."""
    for future in futures:
        if future is not None:
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future


async def _receive_text(websocket: WebSocket) -> str | None:
    """The next client message as text (binary frames decoded), or None once closed."""
    try:
        message = await websocket.receive()
    except (WebSocketDisconnect, RuntimeError):
        return None
    if message["type"] == "websocket.disconnect":
        return None
    if message.get("text") is not None:
        return str(message["text"])
    data = message.get("bytes")
    return bytes(data).decode() if data is not None else ""


async def send_message(websocket: WebSocket, message: Any, *, binary: bool = False,
                       encode: Callable[[Any], str] = dumps) -> None:
    """Send one message as ``encode`` writes it (default: JSON, decimals as strings), as
    a binary frame if ``binary``."""
    text = encode(message)
    if binary:
        await websocket.send_bytes(text.encode())
    else:
        await websocket.send_text(text)


async def receive_json(websocket: WebSocket) -> Any:
    """The next client message parsed as JSON (text or binary frame); None once closed
    or when it is not JSON."""
    text = await _receive_text(websocket)
    if text is None:
        return None
    try:
        return loads(text)
    except BodyError:
        return {}
