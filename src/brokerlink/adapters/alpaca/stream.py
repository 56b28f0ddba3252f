"""Alpaca's ``trade_updates`` websocket as an async iterator of ``OrderUpdate`` s.

Protocol (``REFERENCE.md`` section 8): authenticate, then listen to ``trade_updates``;
frames may be text or binary (JSON either way). The life cycle is the kit's
(``_shared/stream.py``): when the connection drops the stream reconnects by itself with
capped, jittered exponential backoff and counts it in ``reconnects``;
updates sent while it was away are *not* replayed, so a consumer that must not miss a
fill re-reads open orders (``get_orders``) after ``reconnects`` changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import websockets
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection

from brokerlink.adapters._shared.stream import Backoff, Sleep, WebsocketOrderStream
from brokerlink.adapters._shared.wire_json import decode_frame as _decode
from brokerlink.core.enums import DataSource
from brokerlink.core.errors import (
    AuthError,
    BrokerConnectionError,
    BrokerError,
    UnexpectedResponseError,
)
from brokerlink.core.events import OrderUpdate

from . import mapping
from .auth import AlpacaAuth
from .wire import AlpacaTradeUpdate

logger = logging.getLogger("brokerlink.adapters.alpaca.stream")

TRADE_UPDATES = "trade_updates"

__all__ = ["TRADE_UPDATES", "AlpacaTradeStream", "OrderUpdate"]
"""``OrderUpdate`` is the core model (``brokerlink.core.events``), re-exported here."""


class AlpacaTradeStream(WebsocketOrderStream):
    """``async with broker.order_updates() as stream: async for update in stream: ...``

    ``listening`` is set while subscribed; ``reconnected`` is set each time the stream
    has subscribed again after a drop (clear it to wait for the next one). Raises
    ``AuthError`` if Alpaca refuses the credentials (never retried) and
    ``BrokerConnectionError`` if it cannot connect ``backoff.max_attempts`` times in a
    row. ``backoff``, ``jitter_source``, ``sleep`` and ``clock`` are the kit's.
    """

    def __init__(self, url: str, auth: AlpacaAuth, account_id: str, *,
                 connection_id: str | None = None, backoff: Backoff | None = None,
                 jitter_source: Callable[[], float] | None = None,
                 sleep: Sleep | None = None, clock: Callable[[], float] | None = None) -> None:
        super().__init__(description="Alpaca trade_updates stream", backoff=backoff,
                         jitter_source=jitter_source, sleep=sleep, clock=clock)
        self.url = url
        self.account_id = account_id
        self.connection_id = connection_id
        self.reconnected = asyncio.Event()
        self._auth = auth

    def __repr__(self) -> str:
        return f"AlpacaTradeStream({self.url!r}, reconnects={self.reconnects})"

    def _error(self, kind: type[BrokerError], message: str) -> BrokerError:
        return kind(message, broker="alpaca", connection_id=self.connection_id)

    async def _handshake(self, ws: ClientConnection) -> None:
        await ws.send(json.dumps(await self._auth.stream_message()))
        reply = self._control(await ws.recv())
        data = reply.get("data")
        if reply.get("stream") != "authorization" or not isinstance(data, dict) \
                or data.get("status") != "authorized":
            raise self._error(AuthError, "Alpaca refused the stream credentials")
        await ws.send(json.dumps({"action": "listen", "data": {"streams": [TRADE_UPDATES]}}))
        while True:
            reply = self._control(await ws.recv())
            if reply.get("stream") == "listening":
                data = reply.get("data")
                streams = data.get("streams") if isinstance(data, dict) else None
                if not isinstance(streams, list) or TRADE_UPDATES not in streams:
                    raise self._error(BrokerConnectionError,
                                      "Alpaca did not subscribe trade_updates")
                return

    def _control(self, raw: str | bytes) -> dict[str, object]:
        """A sign-in/subscription reply as a dict. Raises ``BrokerConnectionError`` for
        one that is not a JSON object."""
        try:
            reply = _decode(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise self._error(BrokerConnectionError,
                              "Alpaca's stream answered the sign-in with something that "
                              "is not a JSON object")
        return reply

    async def _open(self) -> ClientConnection:
        ws = await websockets.connect(self.url, open_timeout=10, ping_interval=None)
        try:
            await self._handshake(ws)
        except BaseException:
            await ws.close()
            raise
        if self.reconnects:
            self.reconnected.set()
        return ws

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
        try:
            data = AlpacaTradeUpdate.model_validate(message.get("data") or {})
            order = mapping.order_from_wire(data.order, self.account_id,
                                            source=DataSource.STREAM,
                                            as_of=data.timestamp or data.order.updated_at)
        except (ValidationError, ValueError, TypeError, ArithmeticError, BrokerError) as exc:
            # An order update that cannot be read may hide a fill: say so rather than
            # skip it. The stream stays usable; the next read continues with the next frame.
            raise self._error(UnexpectedResponseError,
                              "Alpaca's trade_updates stream sent an order update of an "
                              f"unexpected shape ({type(exc).__name__}); re-read open "
                              "orders to catch up") from exc
        return OrderUpdate(event=data.event, order=order, timestamp=data.timestamp,
                           execution_id=data.execution_id, fill_price=data.price,
                           fill_quantity=data.qty, position_quantity=data.position_qty)
