"""One typed async method per Alpaca endpoint, on the kit's ``WireClient``.

Sends ``WireRequest`` models and returns wire models (``wire.py``); knows nothing of core
models. Reads are retried by the transport; writes (place, replace, cancel) are sent
once. An unreadable answer raises ``UnexpectedResponseError`` for a read and the
ambiguous ``UnreadableAcknowledgementError`` for a write (see ``WireClient``). Market
data goes to ``data_url`` (the same emulator in tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import TypeAdapter

from brokerlink.adapters._shared.transport import Transport
from brokerlink.adapters._shared.wire_client import WireClient

from .wire import (
    AlpacaAccount,
    AlpacaActivitiesQuery,
    AlpacaActivity,
    AlpacaAsset,
    AlpacaCalendarDay,
    AlpacaCalendarQuery,
    AlpacaClientOrderIdQuery,
    AlpacaClock,
    AlpacaLatestQuotes,
    AlpacaLatestTrades,
    AlpacaOrder,
    AlpacaOrderRequest,
    AlpacaOrdersQuery,
    AlpacaPosition,
    AlpacaQuote,
    AlpacaReplaceRequest,
    AlpacaSymbolsQuery,
    AlpacaTrade,
)

_ORDERS = TypeAdapter(list[AlpacaOrder])
_POSITIONS = TypeAdapter(list[AlpacaPosition])
_ACTIVITIES = TypeAdapter(list[AlpacaActivity])
_CALENDAR = TypeAdapter(list[AlpacaCalendarDay])

WRITE_ANSWERS = tuple(range(200, 300))
"""Statuses a write's answer is read from: every 2xx. Alpaca documents 200 (and 204 for a
cancel), but any success status means the broker may have acted, so an answer that is
not the documented one must end in the ambiguous ``UnreadableAcknowledgementError``
(reconcile, never resend), not in a plain "unexpected status" error that reads as "not
acted on"."""

__all__ = ["AlpacaClient"]


class AlpacaClient(WireClient):
    """The Alpaca REST API over one ``Transport`` (trading) plus ``data_url``."""

    def __init__(self, transport: Transport, *, data_url: str) -> None:
        super().__init__(transport)
        self.data_url = data_url
        self.server_time: datetime | None = None
        """The broker's clock per the last response's ``Date`` header (second
        resolution); read models use it as ``as_of``, so an emulator's virtual clock and a
        real server's clock both give consistent times."""
        self._date_seen: str | None = None

    def on_response(self, response: httpx.Response) -> None:
        """Note the server's ``Date`` header as ``server_time``."""
        raw = response.headers.get("date")
        if not raw:
            return
        if raw == self._date_seen:
            # Second resolution: most answers repeat the last one, so skip the parsing.
            return
        self._date_seen = raw
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self.server_time = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # --- account ------------------------------------------------------------------

    async def get_account(self) -> AlpacaAccount:
        return await self.read("/v2/account", AlpacaAccount, operation="get_account")

    async def list_positions(self) -> list[AlpacaPosition]:
        return await self.read("/v2/positions", _POSITIONS, operation="list_positions")

    async def get_position(self, symbol: str) -> AlpacaPosition:
        return await self.read(f"/v2/positions/{symbol}", AlpacaPosition,
                               operation="get_position")

    async def list_activities(self, query: AlpacaActivitiesQuery) -> list[AlpacaActivity]:
        return await self.read("/v2/account/activities", _ACTIVITIES,
                               operation="list_activities", params=query)

    # --- orders -------------------------------------------------------------------

    async def list_orders(self, query: AlpacaOrdersQuery) -> list[AlpacaOrder]:
        return await self.read("/v2/orders", _ORDERS, operation="list_orders", params=query)

    async def get_order(self, order_id: str) -> AlpacaOrder:
        return await self.read(f"/v2/orders/{order_id}", AlpacaOrder, operation="get_order")

    async def get_order_by_client_order_id(self, client_order_id: str) -> AlpacaOrder:
        return await self.read("/v2/orders:by_client_order_id", AlpacaOrder,
                               operation="get_order_by_client_id",
                               params=AlpacaClientOrderIdQuery(client_order_id=client_order_id))

    async def place_order(self, request: AlpacaOrderRequest) -> AlpacaOrder:
        """``POST /v2/orders``, sent once. Raises ``RequestTimeoutError`` (or its
        ``UnreadableAcknowledgementError``), carrying the client order id, when the
        outcome is unknown."""
        return await self.write("POST", "/v2/orders", AlpacaOrder, operation="place_order",
                                body=request, client_order_id=request.client_order_id,
                                expected=WRITE_ANSWERS)

    async def replace_order(self, order_id: str, request: AlpacaReplaceRequest) -> AlpacaOrder:
        """``PATCH /v2/orders/{id}``: a new order replaces the old; sent once. Raises as
        ``place_order`` does when the outcome is unknown."""
        return await self.write("PATCH", f"/v2/orders/{order_id}", AlpacaOrder,
                                operation="replace_order", body=request,
                                client_order_id=request.client_order_id,
                                expected=WRITE_ANSWERS)

    async def cancel_order(self, order_id: str) -> None:
        """``DELETE /v2/orders/{id}``, sent once. Alpaca documents 204 (no body) for an
        accepted cancel; any other 2xx is accepted only with a readable order as its
        body, else it raises ``UnreadableAcknowledgementError`` (something answered that
        may not be Alpaca, and the cancel may have happened: re-read the order)."""
        response = await self.send("DELETE", f"/v2/orders/{order_id}",
                                   operation="cancel_order", write=True,
                                   expected=WRITE_ANSWERS)
        if response.status_code != 204:
            self.parse(response, AlpacaOrder, operation="cancel_order", write=True)

    # --- reference data ---------------------------------------------------------------

    async def get_asset(self, symbol: str) -> AlpacaAsset:
        return await self.read(f"/v2/assets/{symbol}", AlpacaAsset, operation="get_asset")

    async def get_clock(self) -> AlpacaClock:
        return await self.read("/v2/clock", AlpacaClock, operation="get_clock")

    async def get_calendar(self, start: date, end: date) -> list[AlpacaCalendarDay]:
        return await self.read("/v2/calendar", _CALENDAR, operation="get_calendar",
                               params=AlpacaCalendarQuery(start=start, end=end))

    # --- market data ------------------------------------------------------------------

    async def _latest_quotes(self, path: str, operation: str,
                             symbols: Sequence[str]) -> dict[str, AlpacaQuote]:
        found = await self.read(path, AlpacaLatestQuotes, operation=operation,
                                params=AlpacaSymbolsQuery(symbols=",".join(symbols)),
                                base_url=self.data_url)
        return found.quotes

    async def _latest_trades(self, path: str, operation: str,
                             symbols: Sequence[str]) -> dict[str, AlpacaTrade]:
        found = await self.read(path, AlpacaLatestTrades, operation=operation,
                                params=AlpacaSymbolsQuery(symbols=",".join(symbols)),
                                base_url=self.data_url)
        return found.trades

    async def latest_stock_quotes(self, symbols: Sequence[str]) -> dict[str, AlpacaQuote]:
        return await self._latest_quotes("/v2/stocks/quotes/latest", "get_stock_quotes",
                                         symbols)

    async def latest_stock_trades(self, symbols: Sequence[str]) -> dict[str, AlpacaTrade]:
        return await self._latest_trades("/v2/stocks/trades/latest", "get_stock_trades",
                                         symbols)

    async def latest_option_quotes(self, symbols: Sequence[str]) -> dict[str, AlpacaQuote]:
        return await self._latest_quotes("/v1beta1/options/quotes/latest",
                                         "get_option_quotes", symbols)

    async def latest_option_trades(self, symbols: Sequence[str]) -> dict[str, AlpacaTrade]:
        return await self._latest_trades("/v1beta1/options/trades/latest",
                                         "get_option_trades", symbols)
