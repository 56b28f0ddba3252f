"""The life cycle every broker's order websocket shares.

Open with ``async with``, iterate for ``OrderUpdate`` s, ``close`` when done; a dropped
connection is counted in ``reconnects``, reported to the ``on_status`` listener, and
reopened by the next read. Each broker's stream supplies only what differs: how to
connect and subscribe (``_connect``) and how to turn frames into updates.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import websockets
from websockets.asyncio.client import ClientConnection

from brokerlink.core.events import StatusListener

logger = logging.getLogger("brokerlink.adapters.stream")


class WebsocketOrderStream(ABC):
    """Connection state, status reporting and closing for one order stream.

    ``listening`` is set while the subscription is live. Subclasses implement
    ``_connect`` (open, sign in, subscribe, then set ``_ws``) and ``__anext__``, built on
    ``_next_frame``, ``_went_up`` and ``_went_down``.
    """

    def __init__(self, *, description: str) -> None:
        self.reconnects = 0
        self.listening = asyncio.Event()
        self._description = description
        self._ws: ClientConnection | None = None
        self._closed = False
        self._status: StatusListener | None = None

    def on_status(self, listener: StatusListener | None) -> None:
        """Call ``listener(True)`` each time the subscription is live and
        ``listener(False)`` on every drop (see ``brokerlink.core.events``)."""
        self._status = listener

    async def __aenter__(self) -> Self:
        await self._connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the websocket; idempotent."""
        self._closed = True
        self.listening.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    def __aiter__(self) -> Self:
        return self

    @abstractmethod
    async def _connect(self) -> None:
        """Open and subscribe, leaving the connection in ``_ws``. Raises
        ``BrokerConnectionError`` (or ``AuthError``) when it cannot."""

    async def _next_frame(self) -> str | bytes | None:
        """The next raw frame, reconnecting first if the last read dropped; ``None``
        right after a drop. Raises ``StopAsyncIteration`` once the stream is closed."""
        if self._ws is None:
            await self._connect()
        ws = self._ws
        if ws is None:
            raise RuntimeError("_connect returned without a connection")
        try:
            return await ws.recv()
        except websockets.ConnectionClosed:
            if self._closed:
                raise StopAsyncIteration from None
            self._went_down()
            return None

    def _went_up(self) -> None:
        self.listening.set()
        if self._status is not None:
            self._status(True)

    def _went_down(self) -> None:
        logger.warning("%s dropped; reconnecting", self._description)
        self.listening.clear()
        self._ws = None
        self.reconnects += 1
        if self._status is not None:
            self._status(False)
