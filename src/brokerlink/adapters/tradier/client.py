"""One typed async method per Tradier endpoint; returns wire models.

Requests are form-encoded (``data=``), answers JSON (the transport sends
``Accept: application/json``; Tradier's default is XML). A body with an ``errors``
property is an error even under HTTP 200 (downstream rejections): every answer goes
through ``_checked``. Writes (place, change, cancel) are sent once, in the ``trading``
rate-limit bucket; everything else is a read the transport may retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from brokerlink.adapters._shared import Transport
from brokerlink.core.errors import BrokerError
from brokerlink.core.values import utc_now

from .config import Bucket
from .errors import classify, context_for, error_messages
from .wire import (
    WireBalances,
    WireClock,
    WireClosedPosition,
    WireHistoryEvent,
    WireOrder,
    WireOrderAck,
    WireOrderPreview,
    WirePosition,
    WireProfile,
    WireQuotes,
    WireStreamSession,
    unwrap,
)

M = TypeVar("M", bound=BaseModel)


class TradierClient:
    """Tradier's REST endpoints over a shared ``Transport`` (which owns auth, limits,
    retries and auditing). Every method raises the transport's errors, plus the typed
    rejection ``errors.classify`` gives an ``errors`` body, plus ``BrokerError`` for a
    payload that does not have Tradier's shape."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.server_time: datetime | None = None
        """Tradier's clock per the last response's ``Date`` header (second resolution).
        Tradier's payloads carry no read time, so read models use it as ``as_of``: an
        emulator's virtual clock and the real server's clock both give consistent times."""

    def __repr__(self) -> str:
        return f"TradierClient({self.transport!r})"

    def now(self) -> datetime:
        """The broker's time as last seen, else the local clock."""
        return self.server_time or utc_now()

    def _note_time(self, response: httpx.Response) -> None:
        raw = response.headers.get("date")
        if not raw:
            return
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self.server_time = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # --- plumbing ----------------------------------------------------------------------

    def _checked(self, response: httpx.Response, operation: str, *,
                 symbol: str | None = None, order_id: str | None = None) -> Any:
        self._note_time(response)
        body = self.transport.parse_json(response, operation=operation)
        messages = error_messages(body)
        if messages is not None:
            context = context_for(http_status=response.status_code,
                                  connection_id=self.transport.connection_id,
                                  request_id=response.headers.get("X-Request-ID"))
            raise classify([self.transport.redact(m) for m in messages],
                           operation=operation, context=context, symbol=symbol,
                           order_id=order_id)
        if not isinstance(body, Mapping):
            raise self._shape(operation, "expected a JSON object")
        return body

    def _shape(self, operation: str, detail: str) -> BrokerError:
        return BrokerError(f"Tradier {operation} answered with an unexpected shape: "
                           f"{detail[:300]}", broker="tradier",
                           connection_id=self.transport.connection_id)

    def _model(self, model: type[M], value: Any, operation: str) -> M:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise self._shape(operation, str(exc)) from exc

    def _models(self, model: type[M], value: Any, key: str, operation: str) -> list[M]:
        try:
            return [model.model_validate(item) for item in unwrap(value, key)]
        except (ValidationError, ValueError) as exc:
            raise self._shape(operation, str(exc)) from exc

    async def _get(self, path: str, operation: str, *, bucket: Bucket = Bucket.STANDARD,
                   params: Mapping[str, str] | None = None, symbol: str | None = None,
                   order_id: str | None = None) -> Any:
        response = await self.transport.request(
            "GET", path, operation=operation, write=False, params=params,
            bucket=bucket.value)
        return self._checked(response, operation, symbol=symbol, order_id=order_id)

    async def _send(self, method: str, path: str, operation: str, *,
                    form: Mapping[str, str] | None = None, write: bool = True,
                    bucket: Bucket = Bucket.TRADING, client_order_id: str | None = None,
                    symbol: str | None = None, order_id: str | None = None) -> Any:
        response = await self.transport.request(
            method, path, operation=operation, write=write, data=form, bucket=bucket.value,
            client_order_id=client_order_id)
        return self._checked(response, operation, symbol=symbol, order_id=order_id)

    # --- account -----------------------------------------------------------------------

    async def get_profile(self) -> WireProfile:
        """``GET /user/profile``: the user and their accounts."""
        body = await self._get("/user/profile", "get_profile")
        return self._model(WireProfile, body.get("profile"), "get_profile")

    async def get_balances(self, account_id: str) -> WireBalances:
        """``GET /accounts/{id}/balances``."""
        body = await self._get(f"/accounts/{account_id}/balances", "get_balances")
        return self._model(WireBalances, body.get("balances"), "get_balances")

    async def get_positions(self, account_id: str) -> list[WirePosition]:
        """``GET /accounts/{id}/positions``; ``"null"`` is an empty list."""
        body = await self._get(f"/accounts/{account_id}/positions", "get_positions")
        return self._models(WirePosition, body.get("positions"), "position", "get_positions")

    async def get_history(self, account_id: str, *, start: date | None = None,
                          end: date | None = None, kind: str | None = None,
                          limit: int | None = None) -> list[WireHistoryEvent]:
        """``GET /accounts/{id}/history`` (clearing data: dates only, no order ids)."""
        params = {k: v for k, v in (("start", start and start.isoformat()),
                                    ("end", end and end.isoformat()), ("type", kind),
                                    ("limit", limit and str(limit))) if v}
        body = await self._get(f"/accounts/{account_id}/history", "get_history",
                               params=params)
        return self._models(WireHistoryEvent, body.get("history"), "event", "get_history")

    async def get_gainloss(self, account_id: str, *, start: date | None = None,
                           end: date | None = None) -> list[WireClosedPosition]:
        """``GET /accounts/{id}/gainloss``: closed positions (updated nightly)."""
        params = {k: v for k, v in (("start", start and start.isoformat()),
                                    ("end", end and end.isoformat())) if v}
        body = await self._get(f"/accounts/{account_id}/gainloss", "get_gainloss",
                               params=params)
        return self._models(WireClosedPosition, body.get("gainloss"), "closed_position",
                            "get_gainloss")

    # --- orders ------------------------------------------------------------------------

    async def get_orders(self, account_id: str) -> list[WireOrder]:
        """``GET /accounts/{id}/orders?includeTags=true&filter=all`` (tags carry our
        client order ids)."""
        body = await self._get(f"/accounts/{account_id}/orders", "get_orders",
                               params={"includeTags": "true", "filter": "all"})
        return self._models(WireOrder, body.get("orders"), "order", "get_orders")

    async def get_order(self, account_id: str, order_id: str) -> WireOrder:
        """``GET /accounts/{id}/orders/{order_id}``. Raises ``OrderNotFoundError``."""
        body = await self._get(f"/accounts/{account_id}/orders/{order_id}", "get_order",
                               params={"includeTags": "true"}, order_id=order_id)
        return self._model(WireOrder, body.get("order"), "get_order")

    async def place_order(self, account_id: str, form: Mapping[str, str], *,
                          client_order_id: str | None) -> WireOrderAck:
        """``POST /accounts/{id}/orders`` once. Raises ``RequestTimeoutError`` (carrying
        ``client_order_id``) when the outcome is unknown."""
        body = await self._send("POST", f"/accounts/{account_id}/orders", "place_order",
                                form=form, client_order_id=client_order_id,
                                symbol=form.get("option_symbol") or form.get("symbol"))
        return self._model(WireOrderAck, body.get("order"), "place_order")

    async def preview_order(self, account_id: str,
                            form: Mapping[str, str]) -> WireOrderPreview:
        """``POST /accounts/{id}/orders`` with ``preview=true``: validates, places
        nothing (so it is safe to retry, and is sent as a read)."""
        body = await self._send("POST", f"/accounts/{account_id}/orders", "preview_order",
                                form={**form, "preview": "true"}, write=False,
                                symbol=form.get("option_symbol") or form.get("symbol"))
        return self._model(WireOrderPreview, body.get("order"), "preview_order")

    async def change_order(self, account_id: str, order_id: str,
                           form: Mapping[str, str]) -> WireOrderAck:
        """``PUT /accounts/{id}/orders/{order_id}``: the order keeps its id."""
        body = await self._send("PUT", f"/accounts/{account_id}/orders/{order_id}",
                                "modify_order", form=form, order_id=order_id)
        return self._model(WireOrderAck, body.get("order"), "modify_order")

    async def cancel_order(self, account_id: str, order_id: str) -> WireOrderAck:
        """``DELETE /accounts/{id}/orders/{order_id}``."""
        body = await self._send("DELETE", f"/accounts/{account_id}/orders/{order_id}",
                                "cancel_order", order_id=order_id)
        return self._model(WireOrderAck, body.get("order"), "cancel_order")

    # --- market data -------------------------------------------------------------------

    async def get_quotes(self, symbols: list[str], *, greeks: bool = False) -> WireQuotes:
        """``GET /markets/quotes``; unknown symbols come back in ``unmatched``."""
        body = await self._get("/markets/quotes", "get_quotes", bucket=Bucket.MARKET_DATA,
                               params={"symbols": ",".join(symbols),
                                       "greeks": "true" if greeks else "false"})
        return self._model(WireQuotes, body.get("quotes"), "get_quotes")

    async def get_clock(self) -> WireClock:
        """``GET /markets/clock``: market state and the server's time (epoch seconds)."""
        body = await self._get("/markets/clock", "get_clock", bucket=Bucket.MARKET_DATA)
        return self._model(WireClock, body.get("clock"), "get_clock")

    # --- streaming ---------------------------------------------------------------------

    async def create_account_session(self) -> WireStreamSession:
        """``POST /accounts/events/session`` (empty body): a stream url and session id,
        valid for 5 minutes until used. Creating one has no effect on orders, so it is
        sent as a read."""
        body = await self._send("POST", "/accounts/events/session", "create_stream_session",
                                write=False, bucket=Bucket.STANDARD)
        return self._model(WireStreamSession, body.get("stream"), "create_stream_session")
