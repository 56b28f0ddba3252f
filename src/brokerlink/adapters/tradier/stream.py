"""Tradier's account-events websocket as an async iterator of ``OrderUpdate`` s.

Protocol (``REFERENCE.md`` section 7):

1. ``POST /accounts/events/session`` gives a websocket url and a session id (valid 5
   minutes until used; one session at a time).
2. Connect and send ``{"events": ["order"], "sessionid": ..., "excludeAccounts": []}``.
3. Each frame is one JSON object: ``heartbeat`` (about once a minute) or an ``order``
   message, which carries the order's id, status and fill figures but not its symbol,
   side or quantity.

So each update's full ``Order`` is the order as last read over REST (fetched once per
order id, then cached) with the message's status, fill figures, prices and time laid
over it. A dropped connection is reopened with a *new* session (a session id is
single-use) and counted in ``reconnects``; messages sent while it was away are not
replayed, so a consumer that must not miss a fill re-reads orders after ``reconnects``
changes.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from decimal import Decimal
from typing import Any

import websockets
from pydantic import ValidationError

from brokerlink.adapters._shared.order_stream import WebsocketOrderStream
from brokerlink.adapters._shared.wire_json import decode_frame as _decode
from brokerlink.core.enums import DataSource, OrderStatus
from brokerlink.core.errors import BrokerConnectionError, BrokerError
from brokerlink.core.events import OrderUpdate
from brokerlink.core.models import Order

from . import mapping
from .client import TradierClient
from .wire import WireOrderEvent

logger = logging.getLogger("brokerlink.adapters.tradier.stream")

ZERO = Decimal(0)

__all__ = ["OrderUpdate", "TradierAccountStream", "merge"]
"""``OrderUpdate`` is the core model (``brokerlink.core.events``), re-exported here."""


def merge(order: Order, wire: WireOrderEvent) -> Order:
    """``order`` (as read over REST) with the stream message's facts laid over it."""
    status = mapping.status_from_wire(wire.status)
    update: dict[str, Any] = {"status": status, "raw_status": wire.status,
                              "source": DataSource.STREAM}
    if wire.transaction_date is not None:
        update["as_of"] = update["updated_at"] = wire.transaction_date
        if status is OrderStatus.FILLED:
            update["filled_at"] = wire.transaction_date
        elif status is OrderStatus.CANCELED:
            update["canceled_at"] = wire.transaction_date
        elif status is OrderStatus.EXPIRED:
            update["expired_at"] = wire.transaction_date
    if wire.exec_quantity is not None:
        update["filled_quantity"] = wire.exec_quantity
    if wire.avg_fill_price:
        update["average_fill_price"] = wire.avg_fill_price
    # Zero means "not set" in these messages (a market order shows price 0.0).
    if wire.price and order.limit_price is not None:
        update["limit_price"] = wire.price
    if wire.stop_price and order.stop_price is not None:
        update["stop_price"] = wire.stop_price
    if wire.tag:
        update["client_order_id"] = wire.tag
    return order.model_copy(update=update)


class TradierAccountStream(WebsocketOrderStream):
    """``async with broker.order_stream() as stream: async for update in stream: ...``

    ``listening`` is set once the first frame after subscribing arrived (``wait_active``
    waits for it). Raises ``BrokerConnectionError`` when the stream cannot be (re)opened
    ``max_attempts`` times in a row, and the client's errors when a session or an order
    cannot be read.
    """

    def __init__(self, client: TradierClient, account_id: str, *, max_attempts: int = 4,
                 connection_id: str | None = None) -> None:
        # The subscription counts as live (listening, status True) once its first frame
        # arrives: Tradier sends no acknowledgement of the subscription itself.
        super().__init__(description="Tradier account stream")
        self.account_id = account_id
        self._client = client
        self._max_attempts = max_attempts
        self._connection_id = connection_id
        self._orders: dict[int, Order] = {}
        self._pending: deque[OrderUpdate] = deque()

    def __repr__(self) -> str:
        return f"TradierAccountStream(account_id={self.account_id!r}, " \
               f"reconnects={self.reconnects})"

    def _lost(self, why: str, exc: BaseException | None = None) -> BrokerConnectionError:
        detail = f": {type(exc).__name__}" if exc is not None else ""
        return BrokerConnectionError(f"Tradier's account stream {why}{detail}",
                                     broker="tradier", connection_id=self._connection_id)

    async def _connect(self) -> None:
        for attempt in range(1, self._max_attempts + 1):
            # A session id is single-use: every (re)connection asks for a new one.
            session = await self._client.create_account_session()
            try:
                ws = await websockets.connect(session.url, open_timeout=10,
                                              ping_interval=None)
            except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                if attempt == self._max_attempts:
                    raise self._lost("cannot be reached", exc) from exc
                continue
            try:
                await ws.send(json.dumps({"events": ["order"],
                                          "sessionid": session.sessionid,
                                          "excludeAccounts": []}))
            except websockets.ConnectionClosed as exc:
                await ws.close()
                if attempt == self._max_attempts:
                    raise self._lost("closed while subscribing", exc) from exc
                continue
            self._ws = ws
            return

    async def wait_active(self, *, reconnects: int = 0) -> None:
        """Wait for the first frame after subscribing (Tradier's heartbeat; the emulator
        sends one at once, Tradier about once a minute): from then on the subscription
        is live. With ``reconnects``, also wait until the stream has reopened that many
        times in all. Order updates read meanwhile are kept for the iterator."""
        while not self.listening.is_set() or self.reconnects < reconnects:
            update = await self._receive()
            if update is not None:
                self._pending.append(update)

    async def __anext__(self) -> OrderUpdate:
        """The next update; reconnects transparently. Raises ``StopAsyncIteration``
        after ``close``."""
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise StopAsyncIteration
            update = await self._receive()
            if update is not None:
                return update

    async def _receive(self) -> OrderUpdate | None:
        """One frame: an update, or None for a heartbeat or a reconnection."""
        raw = await self._next_frame()
        if raw is None:
            return None
        if not self.listening.is_set():
            self._went_up()
        return await self._parse(raw)

    async def _parse(self, raw: str | bytes) -> OrderUpdate | None:
        try:
            message = _decode(raw)
        except ValueError:
            logger.warning("ignoring a Tradier stream frame that is not JSON")
            return None
        if not isinstance(message, dict) or message.get("event") != "order":
            # Heartbeats, and anything newer than this adapter, are not order updates.
            return None
        try:
            wire = WireOrderEvent.model_validate(message)
        except ValidationError as exc:
            raise BrokerError(f"Tradier's account stream sent an order message of an "
                              f"unexpected shape: {str(exc)[:200]}", broker="tradier",
                              connection_id=self._connection_id) from exc
        known = self._orders.get(wire.id)
        if known is None:
            fetched = await self._client.get_order(self.account_id, str(wire.id))
            known = mapping.to_order(fetched, account_id=self.account_id,
                                     as_of=self._client.now(), source=DataSource.STREAM)
        order = merge(known, wire)
        self._orders[wire.id] = order
        return OrderUpdate(event=wire.status, order=order, timestamp=wire.transaction_date,
                           fill_quantity=wire.last_fill_quantity or None,
                           parent_order_id=str(wire.parent_id) if wire.parent_id else None)
