"""Alpaca's ``trade_updates`` websocket as an async iterator of ``OrderUpdate`` s.

Protocol (``REFERENCE.md`` section 8): authenticate, then listen to ``trade_updates``;
frames may be text or binary (JSON either way). When the connection drops the stream
reconnects by itself with capped exponential backoff and counts it in ``reconnects``;
updates sent while it was away are *not* replayed, so a consumer that must not miss a
fill re-reads open orders (``get_orders``) after ``reconnects`` changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import TracebackType
from typing import Self

import websockets
from websockets.asyncio.client import ClientConnection

from brokerlink.adapters._shared.wire_json import decode_frame as _decode
from brokerlink.core.enums import DataSource
from brokerlink.core.errors import AuthError, BrokerConnectionError
from brokerlink.core.events import OrderUpdate, StatusListener

from . import mapping
from .auth import AlpacaAuth
from .wire import AlpacaTradeUpdate

logger = logging.getLogger("brokerlink.adapters.alpaca.stream")

TRADE_UPDATES = "trade_updates"

__all__ = ["TRADE_UPDATES", "AlpacaTradeStream", "OrderUpdate"]
"""``OrderUpdate`` is the core model (``brokerlink.core.events``), re-exported here."""


class AlpacaTradeStream:
    """``async with AlpacaTradeStream(...) as stream: async for update in stream: ...``

    ``listening`` is set while subscribed; ``reconnected`` is set each time the stream
    has subscribed again after a drop (clear it to wait for the next one). Raises
    ``AuthError`` if Alpaca refuses the credentials (never retried) and
    ``BrokerConnectionError`` if it cannot connect after ``max_attempts`` consecutive
    tries.
    """

    def __init__(self, url: str, auth: AlpacaAuth, account_id: str, *,
                 max_backoff: float = 5.0, max_attempts: int = 8) -> None:
        self.url = url
        self.account_id = account_id
        self.reconnects = 0
        self.listening = asyncio.Event()
        self.reconnected = asyncio.Event()
        self._auth = auth
        self._max_backoff = max_backoff
        self._max_attempts = max_attempts
        self._ws: ClientConnection | None = None
        self._closed = False
        self._status: StatusListener | None = None

    def on_status(self, listener: StatusListener | None) -> None:
        """Call ``listener(True)`` on every (re)subscription and ``listener(False)`` on
        every drop (see ``brokerlink.core.events.OrderUpdateStream``)."""
        self._status = listener

    def __repr__(self) -> str:
        return f"AlpacaTradeStream({self.url!r}, reconnects={self.reconnects})"

    async def __aenter__(self) -> Self:
        await self._connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        self.listening.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def _handshake(self, ws: ClientConnection) -> None:
        await ws.send(json.dumps(await self._auth.stream_message()))
        reply = _decode(await ws.recv())
        data = reply.get("data", {}) if isinstance(reply, dict) else {}
        if reply.get("stream") != "authorization" or data.get("status") != "authorized":
            raise AuthError("Alpaca refused the stream credentials", broker="alpaca")
        await ws.send(json.dumps({"action": "listen", "data": {"streams": [TRADE_UPDATES]}}))
        while True:
            reply = _decode(await ws.recv())
            if isinstance(reply, dict) and reply.get("stream") == "listening":
                streams = reply.get("data", {}).get("streams", [])
                if TRADE_UPDATES not in streams:
                    raise BrokerConnectionError("Alpaca did not subscribe trade_updates",
                                                broker="alpaca")
                return

    async def _connect(self) -> None:
        delay = 0.1
        for attempt in range(1, self._max_attempts + 1):
            try:
                ws = await websockets.connect(self.url, open_timeout=10, ping_interval=None)
            except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                if attempt == self._max_attempts:
                    raise BrokerConnectionError(
                        f"cannot reach the Alpaca stream: {type(exc).__name__}",
                        broker="alpaca") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            try:
                await self._handshake(ws)
            except websockets.ConnectionClosed as exc:
                await ws.close()
                if attempt == self._max_attempts:
                    raise BrokerConnectionError("the Alpaca stream closed during sign-in",
                                                broker="alpaca") from exc
                continue
            except BaseException:
                await ws.close()
                raise
            self._ws = ws
            self.listening.set()
            if self.reconnects:
                self.reconnected.set()
            if self._status is not None:
                self._status(True)
            return

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> OrderUpdate:
        """The next update; reconnects transparently. Raises ``StopAsyncIteration``
        after ``close``."""
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._ws is None:
                await self._connect()
            assert self._ws is not None  # noqa: S101  (_connect set it or raised)
            try:
                raw = await self._ws.recv()
            except websockets.ConnectionClosed:
                if self._closed:
                    raise StopAsyncIteration from None
                logger.warning("Alpaca trade_updates stream dropped; reconnecting")
                self.listening.clear()
                self._ws = None
                self.reconnects += 1
                if self._status is not None:
                    self._status(False)
                continue
            update = self._parse(raw)
            if update is not None:
                return update

    def _parse(self, raw: str | bytes) -> OrderUpdate | None:
        try:
            message = _decode(raw)
        except ValueError:
            logger.warning("ignoring a stream frame that is not JSON")
            return None
        if not isinstance(message, dict) or message.get("stream") != TRADE_UPDATES:
            return None
        data = AlpacaTradeUpdate.model_validate(message.get("data") or {})
        order = mapping.order_from_wire(data.order, self.account_id,
                                        source=DataSource.STREAM,
                                        as_of=data.timestamp or data.order.updated_at)
        return OrderUpdate(event=data.event, order=order, timestamp=data.timestamp,
                           execution_id=data.execution_id, fill_price=data.price,
                           fill_quantity=data.qty, position_quantity=data.position_qty)
