"""Account, positions, activities, assets, clock and calendar of the Alpaca emulator."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerlink.core.enums import AssetType, OrderSide, OrderType, TimeInForce, TransactionType
from brokerlink.core.errors import BrokerError, SymbolNotFoundError
from brokerlink.core.models import Order, OrderRequest, Position, Transaction
from brokerlink.emulators.alpaca.context import AlpacaContext
from brokerlink.emulators.alpaca.errors import AlpacaError, from_engine, not_found, unprocessable
from brokerlink.emulators.alpaca.orders import time_param
from brokerlink.emulators.alpaca.serialize import (
    NON_TRADE_TYPES,
    account_json,
    activity_type_of,
    asset_json,
    calendar_json,
    clock_json,
    fill_activity_json,
    non_trade_activity_json,
    order_json,
    position_json,
    stable_uuid,
)
from brokerlink.sim.calendar import NEW_YORK

ZERO = Decimal(0)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PAGE_SIZE = 100
TRADE_TYPES = frozenset({"FILL"})
NON_TRADE = frozenset(code for code, _ in NON_TRADE_TYPES.values()) | {"TRANS", "DIV", "MISC"}


def account_router(ctx: AlpacaContext) -> APIRouter:
    """The account-level endpoints, bound to ``ctx``."""
    router = APIRouter()
    engine = ctx.env.engine

    def positions_of(account_id: str) -> list[tuple[Position, dict[str, Any]]]:
        result = []
        for position in engine.positions(account_id):
            instrument = engine.instrument(position.symbol)
            previous = engine.prices.previous_close(instrument.symbol)
            result.append((position, position_json(position, instrument, previous,
                                                   position.day_pnl or ZERO)))
        return result

    @router.get("/v2/account")
    async def get_account(request: Request) -> Response:
        account_id = ctx.account_for(request)
        account = engine.account_settings(account_id)
        prices = {s: engine.sim_quote(s).last for s in account.holdings}
        figures = account.margin(prices)
        body = account_json(account, engine.balances(account_id),
                            engine.positions(account_id),
                            initial_margin=figures.initial_requirement,
                            maintenance_margin=figures.maintenance_requirement,
                            now=engine.now())
        return ctx.respond(account_id, body)

    @router.get("/v2/positions")
    async def list_positions(request: Request) -> Response:
        account_id = ctx.account_for(request)
        return ctx.respond(account_id, [body for _, body in positions_of(account_id)])

    def find_position(account_id: str, key: str) -> tuple[Position, dict[str, Any]]:
        for position, body in positions_of(account_id):
            if key.upper() in (position.symbol.upper(), body["asset_id"].upper()):
                return position, body
        raise not_found("position does not exist")

    @router.get("/v2/positions/{symbol_or_asset_id}")
    async def get_position(symbol_or_asset_id: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        return ctx.respond(account_id, find_position(account_id, symbol_or_asset_id)[1])

    @router.delete("/v2/positions/{symbol_or_asset_id}")
    async def close_position(symbol_or_asset_id: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        position, _ = find_position(account_id, symbol_or_asset_id)
        is_option = position.asset_type is AssetType.OPTION
        long = position.quantity > 0
        if is_option:
            side = OrderSide.SELL_TO_CLOSE if long else OrderSide.BUY_TO_CLOSE
        else:
            side = OrderSide.SELL if long else OrderSide.BUY_TO_COVER
        try:
            placed = engine.place_order(account_id, OrderRequest(
                symbol=position.symbol, side=side, quantity=abs(position.quantity),
                order_type=OrderType.MARKET, time_in_force=TimeInForce.DAY))
        except BrokerError as exc:
            raise from_engine(exc, symbol=position.symbol) from exc
        return ctx.respond(account_id, order_json(placed, accepted=ctx.is_queued(placed)))

    def activities(request: Request, account_id: str, types: set[str] | None,
                   params: dict[str, str]) -> list[dict[str, Any]]:
        after = time_param(params.get("after"), "after")
        until = time_param(params.get("until"), "until")
        day = params.get("date")
        direction = params.get("direction", "desc")
        if direction not in ("asc", "desc"):
            raise unprocessable("invalid direction")
        try:
            page_size = int(params.get("page_size", MAX_PAGE_SIZE))
        except ValueError as exc:
            raise unprocessable("invalid page_size") from exc
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise unprocessable(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        category = params.get("category")
        now = engine.now()
        ledger = engine.transactions(account_id, EPOCH, now + timedelta(days=1))
        orders: dict[str, Order] = {o.order_id: o for o in engine.orders(account_id)}
        cumulative: dict[str, Decimal] = {}
        items: list[tuple[Transaction, dict[str, Any]]] = []
        for transaction in ledger:
            if transaction.type is TransactionType.FILL:
                key = transaction.order_id or transaction.transaction_id
                cumulative[key] = cumulative.get(key, ZERO) + (transaction.quantity or ZERO)
                body = fill_activity_json(transaction, orders.get(key), cumulative[key])
            else:
                body = non_trade_activity_json(transaction)
            items.append((transaction, body))
        selected = []
        for transaction, body in items:
            kind = activity_type_of(transaction)
            if types is not None and not _type_matches(kind, types):
                continue
            if category == "trade_activity" and kind != "FILL":
                continue
            if category == "non_trade_activity" and kind == "FILL":
                continue
            at = transaction.timestamp
            if after is not None and at <= after:
                continue
            if until is not None and at >= until:
                continue
            if day and at.astimezone(NEW_YORK).date().isoformat() != day[:10]:
                continue
            selected.append(body)
        if direction == "desc":
            selected.reverse()
        token = params.get("page_token")
        if token:
            ids = [b["id"] for b in selected]
            selected = selected[ids.index(token) + 1:] if token in ids else []
        return selected[:page_size]

    @router.get("/v2/account/activities")
    async def get_account_activities(request: Request) -> Response:
        account_id = ctx.account_for(request)
        params = dict(request.query_params)
        raw = params.get("activity_types")
        types = {t.strip().upper() for t in raw.split(",") if t.strip()} if raw else None
        return ctx.respond(account_id, activities(request, account_id, types, params))

    @router.get("/v2/account/activities/{activity_type}")
    async def get_account_activities_by_type(activity_type: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        kind = activity_type.upper()
        if kind not in TRADE_TYPES | NON_TRADE:
            raise unprocessable(f"invalid activity type {activity_type}")
        return ctx.respond(account_id, activities(request, account_id, {kind},
                                                  dict(request.query_params)))

    @router.get("/v2/assets")
    async def list_assets(request: Request, status: str | None = None,
                          asset_class: str = "us_equity") -> Response:
        account_id = ctx.account_for(request)
        if asset_class != "us_equity" or status not in (None, "active"):
            return ctx.respond(account_id, [])
        return ctx.respond(account_id, [asset_json(engine.instrument(s))
                                        for s in engine.universe.symbols()])

    @router.get("/v2/assets/{symbol_or_asset_id}")
    async def get_asset(symbol_or_asset_id: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        key = symbol_or_asset_id.upper()
        for symbol in engine.universe.symbols():
            if key == stable_uuid("asset", symbol).upper():
                return ctx.respond(account_id, asset_json(engine.instrument(symbol)))
        try:
            instrument = engine.instrument(symbol_or_asset_id)
        except SymbolNotFoundError as exc:
            raise not_found("asset not found") from exc
        if instrument.is_option:
            # Option contracts live under /v2/options/contracts, not /v2/assets.
            raise not_found("asset not found")
        return ctx.respond(account_id, asset_json(instrument))

    @router.get("/v2/clock")
    async def get_clock(request: Request) -> Response:
        account_id = ctx.account_for(request)
        return ctx.respond(account_id, clock_json(engine.now(), engine.is_open(),
                                                  engine.next_open(), engine.next_close()))

    @router.get("/v2/calendar")
    async def get_calendar(request: Request, start: str | None = None,
                           end: str | None = None) -> Response:
        account_id = ctx.account_for(request)
        today = engine.now().astimezone(NEW_YORK).date()
        try:
            first = date.fromisoformat(start[:10]) if start else today
            last = date.fromisoformat(end[:10]) if end else first + timedelta(days=30)
            sessions = engine.calendar.sessions_between(first, last)
        except ValueError as exc:
            raise AlpacaError(400, 40010000, f"invalid date range: {exc}") from exc
        return ctx.respond(account_id, calendar_json(sessions, engine.calendar))

    return router


def _type_matches(kind: str, wanted: set[str]) -> bool:
    if kind in wanted:
        return True
    if "TRANS" in wanted and kind in ("CSD", "CSW"):
        return True
    return "MISC" in wanted and kind not in ("FILL", "CSD", "CSW", "DIV")
