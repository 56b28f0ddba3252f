"""Tradier account routes: profile, balances, positions, history, gain/loss."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerlink.core.enums import AccountType, BrokerType
from brokerlink.core.errors import SymbolNotFoundError
from brokerlink.core.models import Transaction
from brokerlink.emulators.tradier import serialize
from brokerlink.emulators.tradier.context import TradierContext, TradierHTTPError
from brokerlink.emulators.tradier.ledger import replay

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

HISTORY_TYPES = {"trade", "option", "ach", "wire", "dividend", "fee", "tax", "journal",
                 "check", "transfer", "adjustment", "interest"}


def _ledger(ctx: TradierContext, account_id: str) -> list[Transaction]:
    engine = ctx.env.engine
    return engine.transactions(account_id, EPOCH, engine.now())


def _date_param(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TradierHTTPError(400, f"Invalid parameter, {name}: use YYYY-MM-DD") from exc


def _page(items: list[dict[str, object]], page: str | None,
          limit: str | None) -> list[dict[str, object]]:
    if not limit:
        return items
    try:
        size, number = int(limit), int(page or 1)
    except ValueError as exc:
        raise TradierHTTPError(400, "Invalid parameter, page/limit must be integers") from exc
    if size < 1 or number < 1:
        raise TradierHTTPError(400, "Invalid parameter, page/limit must be positive")
    return items[(number - 1) * size:number * size]


def account_label(ctx: TradierContext, account_id: str) -> str:
    settings = ctx.env.engine.account_settings(account_id)
    if settings.account_type is AccountType.CASH:
        return "cash"
    return "pdt" if account_id in ctx.state.pdt_accounts else "margin"


def accounts_router(ctx: TradierContext) -> APIRouter:
    router = APIRouter(prefix="/v1")
    engine = ctx.env.engine

    @router.get("/user/profile")
    async def get_profile(request: Request) -> Response:
        account_id = ctx.authenticate(request)
        account = engine.account(account_id, broker=BrokerType.TRADIER)
        settings = engine.account_settings(account_id)
        entry = serialize.account_entry(account, settings.options_level,
                                        pdt=account_id in ctx.state.pdt_accounts)
        return ctx.ok(request, serialize.profile(f"id-{account_id.lower()}",
                                                 account.account_name or "Emulated Trader",
                                                 [entry]))

    @router.get("/accounts/{account_id}/balances")
    async def get_balances(account_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        today = engine.now().date()
        realized = sum((lot.proceeds - lot.cost for lot in replay(_ledger(ctx, account_id)).closed
                        if lot.closed.date() == today), Decimal(0))
        pending = sum(1 for o in engine.orders(account_id) if o.status.is_open)
        return ctx.ok(request, serialize.balances(
            engine.balances(account_id), engine.positions(account_id),
            account_type=account_label(ctx, account_id), pending_orders=pending,
            realized_today=realized))

    @router.get("/accounts/{account_id}/positions")
    async def get_positions(account_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        acquired = replay(_ledger(ctx, account_id)).acquired
        now = engine.now()
        items = [serialize.position(p, ctx.state.position_id(account_id, p.symbol),
                                    acquired.get(p.symbol, now))
                 for p in engine.positions(account_id)]
        return ctx.ok(request, serialize.positions(items))

    @router.get("/accounts/{account_id}/history")
    async def get_history(account_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        q = request.query_params
        kind = q.get("type")
        if kind and kind not in HISTORY_TYPES:
            return ctx.fail(request, TradierHTTPError(400, f"Invalid parameter, type: {kind}"))
        try:
            start, end = _date_param(q.get("start"), "start"), _date_param(q.get("end"), "end")
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        symbol = (q.get("symbol") or "").upper()
        exact = q.get("exactMatch", "false").lower() == "true"
        names: dict[str, str] = {}

        def name_of(symbol: str | None) -> str:
            if not symbol:
                return ""
            if symbol not in names:
                try:
                    names[symbol] = engine.instrument(symbol).name
                except SymbolNotFoundError:
                    names[symbol] = symbol
            return names[symbol]
        events = []
        for t in reversed(_ledger(ctx, account_id)):
            day = t.timestamp.date()
            if (start and day < start) or (end and day > end):
                continue
            if symbol and not (t.symbol == symbol if exact
                               else (t.symbol or "").startswith(symbol)):
                continue
            event = serialize.history_event(t, name_of(t.symbol))
            if kind and event["type"] != kind:
                continue
            events.append(event)
        try:
            page = _page(events, q.get("page"), q.get("limit"))
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        return ctx.ok(request, serialize.history(page))

    @router.get("/accounts/{account_id}/gainloss")
    async def get_gainloss(account_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        q = request.query_params
        lots = replay(_ledger(ctx, account_id)).closed
        sort_key = "opened" if q.get("sortBy") == "openDate" else "closed"
        lots.sort(key=lambda lot: getattr(lot, sort_key), reverse=q.get("sort") != "asc")
        try:
            start, end = _date_param(q.get("start"), "start"), _date_param(q.get("end"), "end")
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        symbol = (q.get("symbol") or "").upper()
        items = [serialize.closed_position(lot.symbol, lot.quantity, lot.cost, lot.proceeds,
                                           lot.opened, lot.closed)
                 for lot in lots
                 if (not start or lot.closed >= datetime.combine(start, time(), UTC))
                 and (not end or lot.closed.date() <= end)
                 and (not symbol or lot.symbol == symbol)]
        try:
            page = _page(items, q.get("page"), q.get("limit"))
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        return ctx.ok(request, serialize.gainloss(page))

    return router

