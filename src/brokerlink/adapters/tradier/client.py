"""One typed async method per Tradier endpoint: typed requests out, wire models in.

A ``WireClient`` (``_shared/wire_client.py``): it knows wire models only, never core
ones. Requests are form-encoded request models (``wire.py``), answers JSON (the
transport sends ``Accept: application/json``; Tradier's default is XML), each validated
into its envelope model.

* A body with an ``errors`` property is a refusal even under HTTP 200 (Tradier's
  downstream rejections of orders): it becomes the typed error of ``errors.RULES``.
* Any other answer that cannot be read raises ``UnexpectedResponseError`` on a read and
  ``UnreadableAcknowledgementError`` on a write (place, change, cancel): the broker may
  have acted, so the caller reconciles by tag and never resends.

Writes are sent once, in the ``trading`` rate-limit bucket; everything else is a read
the transport may retry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from brokerlink.adapters._shared.errors import ErrorResponse
from brokerlink.adapters._shared.transport import REQUEST_ID_HEADERS, Transport
from brokerlink.adapters._shared.wire_client import WireClient, WireRequest

from .config import Bucket
from .errors import error_messages, rejection
from .wire import (
    AckAnswer,
    BalancesAnswer,
    ChangeForm,
    ClockAnswer,
    DateRangeQuery,
    GainLossAnswer,
    HistoryAnswer,
    MultilegOrder,
    OrderAnswer,
    OrderForm,
    OrderQuery,
    OrdersAnswer,
    OrdersQuery,
    PositionsAnswer,
    PreviewAnswer,
    ProfileAnswer,
    QuotesAnswer,
    QuotesQuery,
    StreamSessionAnswer,
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
)

A = TypeVar("A", bound=BaseModel)


class TradierClient(WireClient):
    """Tradier's REST endpoints over a shared ``Transport`` (which owns auth, limits,
    retries and auditing). Every method raises the transport's errors, the typed refusal
    of an ``errors`` body, and ``UnexpectedResponseError`` (reads) or
    ``UnreadableAcknowledgementError`` (writes) for an answer that cannot be read."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.server_time: datetime | None = None
        """Tradier's clock per the last response's ``Date`` header (second resolution).
        Tradier's payloads carry no read time, so read models use it as ``as_of``: an
        emulator's virtual clock and the real server's clock both give consistent times."""
        self._date_seen: str | None = None

    def now(self) -> datetime:
        """The broker's time as last seen, else the local clock."""
        return self.server_time or datetime.now(UTC)

    def on_response(self, response: httpx.Response) -> None:
        """Note the server's clock from the ``Date`` header (ignored when unreadable)."""
        raw = response.headers.get("date")
        if not raw or raw == self._date_seen:
            # Second resolution: most answers repeat the last one.
            return
        self._date_seen = raw
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self.server_time = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # --- plumbing ----------------------------------------------------------------------

    async def _call(self, method: str, path: str, answer: type[A], *, operation: str,
                    write: bool, bucket: Bucket, params: WireRequest | None = None,
                    form: WireRequest | None = None, client_order_id: str | None = None,
                    symbol: str | None = None, order_id: str | None = None) -> A:
        """Send once (reads may be retried by the transport), refuse an ``errors``
        body, and read the rest as ``answer``."""
        response = await self.send(method, path, operation=operation, write=write,
                                   params=params, form=form, bucket=bucket.value,
                                   client_order_id=client_order_id)
        body = self.json_body(response, operation=operation, write=write,
                              client_order_id=client_order_id)
        if error_messages(body) is not None:
            raise rejection(self._error_response(response, body, operation,
                                                 client_order_id),
                            symbol=symbol, order_id=order_id)
        with self.reading(operation, write=write, client_order_id=client_order_id,
                          response=response):
            return answer.model_validate(body)

    def _error_response(self, response: httpx.Response, body: Any, operation: str,
                        client_order_id: str | None) -> ErrorResponse:
        transport = self.transport
        request_id = next((value for name in REQUEST_ID_HEADERS
                           if (value := response.headers.get(name))), None)
        return ErrorResponse(
            status=response.status_code, body=_redacted(body, transport),
            text=transport.redact(response.content[:2000].decode("utf-8", "replace")),
            headers=response.headers,
            operation=operation, broker=transport.broker,
            connection_id=transport.connection_id, request_id=request_id,
            client_order_id=client_order_id)

    async def _read(self, path: str, answer: type[A], operation: str, *,
                    bucket: Bucket = Bucket.STANDARD, params: WireRequest | None = None,
                    symbol: str | None = None, order_id: str | None = None) -> A:
        return await self._call("GET", path, answer, operation=operation, write=False,
                                bucket=bucket, params=params, symbol=symbol,
                                order_id=order_id)

    # --- account -----------------------------------------------------------------------

    async def get_profile(self) -> WireProfile:
        """``GET /user/profile``: the user and their accounts."""
        return (await self._read("/user/profile", ProfileAnswer, "get_profile")).profile

    async def get_balances(self, account_id: str) -> WireBalances:
        """``GET /accounts/{id}/balances``."""
        return (await self._read(f"/accounts/{account_id}/balances", BalancesAnswer,
                                 "get_balances")).balances

    async def get_positions(self, account_id: str) -> list[WirePosition]:
        """``GET /accounts/{id}/positions``; ``"null"`` is an empty list."""
        return (await self._read(f"/accounts/{account_id}/positions", PositionsAnswer,
                                 "get_positions")).positions

    async def get_history(self, account_id: str, *, start: date | None = None,
                          end: date | None = None, kind: str | None = None,
                          limit: int | None = None) -> list[WireHistoryEvent]:
        """``GET /accounts/{id}/history`` (clearing data: dates only, no order ids)."""
        query = DateRangeQuery(start=start, end=end, type=kind, limit=limit)
        return (await self._read(f"/accounts/{account_id}/history", HistoryAnswer,
                                 "get_history", params=query)).history

    async def get_gainloss(self, account_id: str, *, start: date | None = None,
                           end: date | None = None) -> list[WireClosedPosition]:
        """``GET /accounts/{id}/gainloss``: closed positions (updated nightly)."""
        query = DateRangeQuery(start=start, end=end)
        return (await self._read(f"/accounts/{account_id}/gainloss", GainLossAnswer,
                                 "get_gainloss", params=query)).gainloss

    # --- orders ------------------------------------------------------------------------

    async def get_orders(self, account_id: str) -> list[WireOrder]:
        """``GET /accounts/{id}/orders?includeTags=true&filter=all`` (tags carry our
        client order ids)."""
        return (await self._read(f"/accounts/{account_id}/orders", OrdersAnswer,
                                 "get_orders", params=OrdersQuery())).orders

    async def get_order(self, account_id: str, order_id: str) -> WireOrder:
        """``GET /accounts/{id}/orders/{order_id}``. Raises ``OrderNotFoundError``."""
        return (await self._read(f"/accounts/{account_id}/orders/{order_id}", OrderAnswer,
                                 "get_order", params=OrderQuery(),
                                 order_id=order_id)).order

    async def place_order(self, account_id: str, form: OrderForm | MultilegOrder, *,
                          client_order_id: str | None) -> WireOrderAck:
        """``POST /accounts/{id}/orders`` once. Raises ``RequestTimeoutError`` (its
        ``UnreadableAcknowledgementError`` kind included, carrying ``client_order_id``)
        when the outcome is unknown."""
        symbol = form.instrument if isinstance(form, OrderForm) else form.symbol
        return (await self._call("POST", f"/accounts/{account_id}/orders", AckAnswer,
                                 operation="place_order", write=True, bucket=Bucket.TRADING,
                                 form=form, client_order_id=client_order_id,
                                 symbol=symbol)).order

    async def preview_order(self, account_id: str, form: OrderForm) -> WireOrderPreview:
        """``POST /accounts/{id}/orders`` with ``preview=true``: validates, places
        nothing (so it is safe to retry, and is sent as a read)."""
        preview = form.model_copy(update={"preview": True})
        return (await self._call("POST", f"/accounts/{account_id}/orders", PreviewAnswer,
                                 operation="preview_order", write=False,
                                 bucket=Bucket.TRADING, form=preview,
                                 symbol=form.instrument)).order

    async def change_order(self, account_id: str, order_id: str, form: ChangeForm, *,
                           client_order_id: str | None = None) -> WireOrderAck:
        """``PUT /accounts/{id}/orders/{order_id}``: the order keeps its id. Sent once;
        an unreadable answer is ambiguous."""
        return (await self._call("PUT", f"/accounts/{account_id}/orders/{order_id}",
                                 AckAnswer, operation="modify_order", write=True,
                                 bucket=Bucket.TRADING, form=form,
                                 client_order_id=client_order_id, order_id=order_id)).order

    async def cancel_order(self, account_id: str, order_id: str) -> WireOrderAck:
        """``DELETE /accounts/{id}/orders/{order_id}``. Sent once; an unreadable answer
        is ambiguous."""
        return (await self._call("DELETE", f"/accounts/{account_id}/orders/{order_id}",
                                 AckAnswer, operation="cancel_order", write=True,
                                 bucket=Bucket.TRADING, order_id=order_id)).order

    # --- market data -------------------------------------------------------------------

    async def get_quotes(self, symbols: list[str], *, greeks: bool = False) -> WireQuotes:
        """``GET /markets/quotes``; unknown symbols come back in ``unmatched``."""
        query = QuotesQuery(symbols=",".join(symbols), greeks=greeks)
        return (await self._read("/markets/quotes", QuotesAnswer, "get_quotes",
                                 bucket=Bucket.MARKET_DATA, params=query)).quotes

    async def get_clock(self) -> WireClock:
        """``GET /markets/clock``: market state and the server's time (epoch seconds)."""
        return (await self._read("/markets/clock", ClockAnswer, "get_clock",
                                 bucket=Bucket.MARKET_DATA)).clock

    # --- streaming ---------------------------------------------------------------------

    async def create_account_session(self) -> WireStreamSession:
        """``POST /accounts/events/session`` (empty body): a stream url and session id,
        valid for 5 minutes until used. Creating one has no effect on orders, so it is
        sent as a read."""
        return (await self._call("POST", "/accounts/events/session", StreamSessionAnswer,
                                 operation="create_stream_session", write=False,
                                 bucket=Bucket.STANDARD)).stream


def _redacted(body: Any, transport: Transport) -> Any:
    """An ``errors`` body with its messages scrubbed of known secrets (they are quoted
    in the error)."""
    messages = error_messages(body)
    if messages is None:
        return body
    return {"errors": {"error": [transport.redact(m) for m in messages]}}


__all__ = ["TradierClient"]
