"""One typed async method per Alpaca endpoint, on the shared ``Transport``.

Returns wire models (``wire.py``) and knows nothing of core models. Reads are retried by
the transport; writes (place, replace, cancel) are sent once. Market data goes to
``data_url`` (the same emulator in tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import TypeAdapter

from brokerlink.adapters._shared import Transport

from .wire import (
    AlpacaAccount,
    AlpacaActivity,
    AlpacaAsset,
    AlpacaCalendarDay,
    AlpacaClock,
    AlpacaLatestQuotes,
    AlpacaLatestTrades,
    AlpacaOrder,
    AlpacaPosition,
    AlpacaQuote,
    AlpacaTrade,
)

_ORDERS = TypeAdapter(list[AlpacaOrder])
_POSITIONS = TypeAdapter(list[AlpacaPosition])
_ACTIVITIES = TypeAdapter(list[AlpacaActivity])
_CALENDAR = TypeAdapter(list[AlpacaCalendarDay])


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as Alpaca's query parameters accept."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AlpacaClient:
    """The Alpaca REST API over one ``Transport`` (trading) plus ``data_url``."""

    def __init__(self, transport: Transport, *, data_url: str) -> None:
        self.transport = transport
        self.data_url = data_url
        self.server_time: datetime | None = None
        """The broker's clock per the last response's ``Date`` header (second
        resolution); read models use it as ``as_of``, so an emulator's virtual clock and a
        real server's clock both give consistent times."""
        self._date_seen: str | None = None

    def _note_time(self, response: httpx.Response) -> None:
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

    def __repr__(self) -> str:
        return f"AlpacaClient({self.transport!r})"

    async def _get(self, path: str, operation: str, params: Mapping[str, Any] | None = None,
                   *, data: bool = False) -> Any:
        response = await self.transport.request(
            "GET", path, operation=operation, write=False, params=params,
            base_url=self.data_url if data else None)
        self._note_time(response)
        return self.transport.parse_json(response, operation=operation)

    # --- account ------------------------------------------------------------------

    async def get_account(self) -> AlpacaAccount:
        return AlpacaAccount.model_validate(await self._get("/v2/account", "get_account"))

    async def list_positions(self) -> list[AlpacaPosition]:
        return _POSITIONS.validate_python(await self._get("/v2/positions", "list_positions"))

    async def get_position(self, symbol: str) -> AlpacaPosition:
        return AlpacaPosition.model_validate(
            await self._get(f"/v2/positions/{symbol}", "get_position"))

    async def list_activities(self, *, activity_types: Sequence[str] | None = None,
                              after: datetime | None = None, until: datetime | None = None,
                              direction: str = "asc", page_size: int = 100,
                              page_token: str | None = None) -> list[AlpacaActivity]:
        params: dict[str, Any] = {"direction": direction, "page_size": page_size}
        if activity_types:
            params["activity_types"] = ",".join(activity_types)
        if after is not None:
            params["after"] = timestamp(after)
        if until is not None:
            params["until"] = timestamp(until)
        if page_token:
            params["page_token"] = page_token
        return _ACTIVITIES.validate_python(
            await self._get("/v2/account/activities", "list_activities", params))

    # --- orders -------------------------------------------------------------------

    async def list_orders(self, *, status: str = "open", limit: int = 500,
                          after: datetime | None = None, until: datetime | None = None,
                          direction: str = "desc",
                          symbols: Sequence[str] | None = None) -> list[AlpacaOrder]:
        params: dict[str, Any] = {"status": status, "limit": limit, "direction": direction}
        if after is not None:
            params["after"] = timestamp(after)
        if until is not None:
            params["until"] = timestamp(until)
        if symbols:
            params["symbols"] = ",".join(symbols)
        return _ORDERS.validate_python(await self._get("/v2/orders", "list_orders", params))

    async def get_order(self, order_id: str) -> AlpacaOrder:
        return AlpacaOrder.model_validate(await self._get(f"/v2/orders/{order_id}",
                                                          "get_order"))

    async def get_order_by_client_order_id(self, client_order_id: str) -> AlpacaOrder:
        return AlpacaOrder.model_validate(await self._get(
            "/v2/orders:by_client_order_id", "get_order_by_client_id",
            {"client_order_id": client_order_id}))

    async def place_order(self, body: Mapping[str, Any], *,
                          client_order_id: str) -> AlpacaOrder:
        """``POST /v2/orders``, sent once. Raises ``RequestTimeoutError`` (carrying
        ``client_order_id``) when the outcome is unknown."""
        response = await self.transport.request(
            "POST", "/v2/orders", operation="place_order", write=True, json=dict(body),
            client_order_id=client_order_id, expected=(200,))
        self._note_time(response)
        return AlpacaOrder.model_validate(
            self.transport.parse_json(response, operation="place_order"))

    async def replace_order(self, order_id: str, body: Mapping[str, Any], *,
                            client_order_id: str | None = None) -> AlpacaOrder:
        """``PATCH /v2/orders/{id}``: a new order replaces the old; sent once."""
        response = await self.transport.request(
            "PATCH", f"/v2/orders/{order_id}", operation="replace_order", write=True,
            json=dict(body), client_order_id=client_order_id, expected=(200,))
        self._note_time(response)
        return AlpacaOrder.model_validate(
            self.transport.parse_json(response, operation="replace_order"))

    async def cancel_order(self, order_id: str) -> None:
        """``DELETE /v2/orders/{id}`` (204 when accepted); sent once."""
        response = await self.transport.request("DELETE", f"/v2/orders/{order_id}",
                                                operation="cancel_order", write=True,
                                                expected=(200, 204))
        self._note_time(response)

    # --- reference data ---------------------------------------------------------------

    async def get_asset(self, symbol: str) -> AlpacaAsset:
        return AlpacaAsset.model_validate(await self._get(f"/v2/assets/{symbol}", "get_asset"))

    async def get_clock(self) -> AlpacaClock:
        return AlpacaClock.model_validate(await self._get("/v2/clock", "get_clock"))

    async def get_calendar(self, start: date, end: date) -> list[AlpacaCalendarDay]:
        return _CALENDAR.validate_python(await self._get(
            "/v2/calendar", "get_calendar",
            {"start": start.isoformat(), "end": end.isoformat()}))

    # --- market data ------------------------------------------------------------------

    async def latest_stock_quotes(self, symbols: Sequence[str]) -> dict[str, AlpacaQuote]:
        raw = await self._get("/v2/stocks/quotes/latest", "get_stock_quotes",
                              {"symbols": ",".join(symbols)}, data=True)
        return AlpacaLatestQuotes.model_validate(raw).quotes

    async def latest_stock_trades(self, symbols: Sequence[str]) -> dict[str, AlpacaTrade]:
        raw = await self._get("/v2/stocks/trades/latest", "get_stock_trades",
                              {"symbols": ",".join(symbols)}, data=True)
        return AlpacaLatestTrades.model_validate(raw).trades

    async def latest_option_quotes(self, symbols: Sequence[str]) -> dict[str, AlpacaQuote]:
        raw = await self._get("/v1beta1/options/quotes/latest", "get_option_quotes",
                              {"symbols": ",".join(symbols)}, data=True)
        return AlpacaLatestQuotes.model_validate(raw).quotes

    async def latest_option_trades(self, symbols: Sequence[str]) -> dict[str, AlpacaTrade]:
        raw = await self._get("/v1beta1/options/trades/latest", "get_option_trades",
                              {"symbols": ",".join(symbols)}, data=True)
        return AlpacaLatestTrades.model_validate(raw).trades
