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
over it (``mapping.streamed_order_from_wire``).

The life cycle is the shared one (``_shared/stream.py``): a dropped connection is
reopened with a *new* session (a session id is single-use) after a capped, jittered
backoff, and counted in ``reconnects``. Messages sent while it was away are not
replayed, so a consumer that must not miss a fill re-reads orders after ``reconnects``
changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable

import websockets
from websockets.asyncio.client import ClientConnection

from brokerlink.adapters._shared.stream import Backoff, Sleep, WebsocketOrderStream
from brokerlink.adapters._shared.wire_client import loads_bounded
from brokerlink.core.enums import DataSource
from brokerlink.core.events import OrderUpdate
from brokerlink.core.models import Order

from . import mapping
from .client import TradierClient
from .wire import WireOrderEvent

logger = logging.getLogger("brokerlink.adapters.tradier.stream")

OPERATION = "order_stream"

__all__ = ["OrderUpdate", "TradierAccountStream"]
"""``OrderUpdate`` is the core model (``brokerlink.core.events``), re-exported here."""


class TradierAccountStream(WebsocketOrderStream):
    """``async with broker.order_updates() as stream: async for update in stream: ...``

    ``listening`` is set once the first frame after subscribing arrived (``wait_active``
    waits for it): Tradier does not acknowledge a subscription. Raises
    ``BrokerConnectionError`` when the stream cannot be (re)opened
    ``backoff.max_attempts`` times in a row, the client's errors when a session or an
    order cannot be read, and ``UnexpectedResponseError`` for an order message that
    cannot be read.
    """

    def __init__(self, client: TradierClient, account_id: str, *,
                 backoff: Backoff | None = None, connection_id: str | None = None,
                 jitter_source: Callable[[], float] = random.random,
                 sleep: Sleep = asyncio.sleep) -> None:
        # Not live on open: the subscription counts as live once its first frame arrives.
        super().__init__(description="Tradier account stream", backoff=backoff,
                         jitter_source=jitter_source, sleep=sleep, up_on_open=False)
        self.account_id = account_id
        self._client = client
        self._connection_id = connection_id
        self._orders: dict[int, Order] = {}
        self._pending: deque[OrderUpdate] = deque()

    def __repr__(self) -> str:
        return f"TradierAccountStream(account_id={self.account_id!r}, " \
               f"reconnects={self.reconnects})"

    async def _open(self) -> ClientConnection:
        """One attempt: a new session (a session id is single-use), connect, subscribe.
        Raises the client's errors for the session, or a retryable connection error."""
        session = await self._client.create_account_session()
        ws = await websockets.connect(session.url, open_timeout=10, ping_interval=None)
        try:
            await ws.send(json.dumps({"events": ["order"], "sessionid": session.sessionid,
                                      "excludeAccounts": []}))
        except websockets.ConnectionClosed:
            await ws.close()
            raise
        return ws

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
            message = loads_bounded(raw)
        except ValueError:
            logger.warning("ignoring a Tradier stream frame that is not JSON")
            return None
        if not isinstance(message, dict) or message.get("event") != "order":
            # Heartbeats, and anything newer than this adapter, are not order updates.
            return None
        with self._client.reading(OPERATION, write=False):
            wire = WireOrderEvent.model_validate(message)
        known = self._orders.get(wire.id)
        if known is None:
            fetched = await self._client.get_order(self.account_id, str(wire.id))
            with self._client.reading(OPERATION, write=False):
                known = mapping.order_from_wire(fetched, account_id=self.account_id,
                                                as_of=self._client.now(),
                                                source=DataSource.STREAM)
        with self._client.reading(OPERATION, write=False):
            order = mapping.streamed_order_from_wire(known, wire)
            update = OrderUpdate(
                event=wire.status, order=order, timestamp=wire.transaction_date,
                fill_quantity=wire.last_fill_quantity or None,
                parent_order_id=str(wire.parent_id) if wire.parent_id else None)
        self._orders[wire.id] = order
        return update
