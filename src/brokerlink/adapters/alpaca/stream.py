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

import websockets
from websockets.asyncio.client import ClientConnection

from brokerlink.adapters._shared.order_stream import WebsocketOrderStream
from brokerlink.adapters._shared.wire_json import decode_frame as _decode
from brokerlink.core.enums import DataSource
from brokerlink.core.errors import AuthError, BrokerConnectionError
from brokerlink.core.events import OrderUpdate

from . import mapping
from .auth import AlpacaAuth
from .wire import AlpacaTradeUpdate

logger = logging.getLogger("brokerlink.adapters.alpaca.stream")

TRADE_UPDATES = "trade_updates"

__all__ = ["TRADE_UPDATES", "AlpacaTradeStream", "OrderUpdate"]
"""``OrderUpdate`` is the core model (``brokerlink.core.events``), re-exported here."""


class AlpacaTradeStream(WebsocketOrderStream):
    """``async with AlpacaTradeStream(...) as stream: async for update in stream: ...``

    ``listening`` is set while subscribed; ``reconnected`` is set each time the stream
    has subscribed again after a drop (clear it to wait for the next one). Raises
    ``AuthError`` if Alpaca refuses the credentials (never retried) and
    ``BrokerConnectionError`` if it cannot connect after ``max_attempts`` consecutive
    tries.
    """

    def __init__(self, url: str, auth: AlpacaAuth, account_id: str, *,
                 max_backoff: float = 5.0, max_attempts: int = 8) -> None:
        super().__init__(description="Alpaca trade_updates stream")
        self.url = url
        self.account_id = account_id
        self.reconnected = asyncio.Event()
        self._auth = auth
        self._max_backoff = max_backoff
        self._max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"AlpacaTradeStream({self.url!r}, reconnects={self.reconnects})"

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
            if self.reconnects:
                self.reconnected.set()
            self._went_up()
            return

    async def __anext__(self) -> OrderUpdate:
        """The next update; reconnects transparently. Raises ``StopAsyncIteration``
        after ``close``."""
        while True:
            if self._closed:
                raise StopAsyncIteration
            raw = await self._next_frame()
            if raw is None:
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
