"""``/v2/orders`` of the Alpaca emulator: place, list, get, replace, cancel.

Request bodies are parsed as Alpaca documents them (``REFERENCE.md`` section 3) and
turned into a core ``OrderRequest`` for the engine. Every number in a place or replace
request follows the core Decimal policy (``emulators._shared.numbers``): finite, bounded,
ASCII digits; quantities and notionals to at most 9 decimal places (the OpenAPI
``Order.qty``/``notional``: "Can take up to 9 decimal points"), options and replaced
quantities whole; prices on the US tick. A value outside it is answered 422 with code
40010001, Alpaca's code for an invalid request parameter. Alpaca has only ``buy``/``sell``;
the emulator works out what the engine needs from the position held, as Alpaca does:
selling what you do not hold opens a short (margin accounts), buying while short covers,
and options use ``position_intent`` (or infer it the same way).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import AccountType, AssetType, OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import BrokerError, InvalidOrderError, SymbolNotFoundError
from brokerlink.core.models import Order, OrderModify, OrderRequest
from brokerlink.core.values import to_utc
from brokerlink.emulators._shared.jsonio import BodyError, read_json
from brokerlink.emulators._shared.numbers import (
    NumberFieldError,
    amount_field_problem,
    percent_field_problem,
    price_field_problem,
    quantity_field_problem,
    read_number,
)
from brokerlink.emulators.alpaca.context import AlpacaContext
from brokerlink.emulators.alpaca.errors import (
    AlpacaError,
    from_engine,
    insufficient_qty,
    invalid_field,
    not_found,
    unprocessable,
)
from brokerlink.emulators.alpaca.serialize import order_json
from brokerlink.sim.universe import Instrument

ZERO = Decimal(0)
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_CLOSING = {OrderSide.SELL: True, OrderSide.SELL_TO_CLOSE: True,
            OrderSide.BUY_TO_COVER: False, OrderSide.BUY_TO_CLOSE: False}
_INTENTS = {"buy_to_open": OrderSide.BUY_TO_OPEN, "buy_to_close": OrderSide.BUY_TO_CLOSE,
            "sell_to_open": OrderSide.SELL_TO_OPEN, "sell_to_close": OrderSide.SELL_TO_CLOSE}


QUANTITY_PLACES = 9
"""Decimal places of ``qty`` and ``notional`` (OpenAPI ``Order``: "Can take up to 9
decimal points"). Alpaca is often said to need at least $1 for a fractional order, but
neither the spec files (``trading-api.json``, ``REFERENCE.md``) nor Alpaca's support page
on fractional orders documents such a minimum, so the emulator does not enforce one:
only the 9-place rule."""
_SHARE_STEP = Decimal(1).scaleb(-QUANTITY_PLACES)
_PRICES = (("limit_price", "limit_price"), ("stop_price", "stop_price"),
           ("trail_price", "trail_amount"))
"""Price fields: Alpaca's wire name, the core ``OrderRequest`` field."""


def _number(body: dict[str, Any], name: str) -> Decimal | None:
    """Field ``name`` of a request body under the core policy, or ``None`` if absent.
    Raises ``AlpacaError`` (422, 40010001) for anything else."""
    try:
        return read_number(body.get(name), name)
    except NumberFieldError as exc:
        raise invalid_field(f"invalid {exc.field}: {exc.rule}") from None


def _check(problem: str | None) -> None:
    if problem is not None:
        raise invalid_field(problem)


def _quantity(body: dict[str, Any], *, option: bool) -> Decimal | None:
    quantity = _number(body, "qty")
    if quantity is not None:
        _check(quantity_field_problem(quantity, "qty", whole=option,
                                      max_places=QUANTITY_PLACES))
    return quantity


def _notional(body: dict[str, Any]) -> Decimal | None:
    notional = _number(body, "notional")
    if notional is not None:
        _check(amount_field_problem(notional, "notional", max_places=QUANTITY_PLACES))
    return notional


def _prices(body: dict[str, Any], *, option: bool) -> dict[str, Decimal | None]:
    """The price fields of a new order as ``OrderRequest`` keywords, each checked."""
    prices: dict[str, Decimal | None] = {}
    for wire, field in _PRICES:
        value = _number(body, wire)
        if value is not None:
            _check(price_field_problem(value, wire, option=option))
        prices[field] = value
    percent = _number(body, "trail_percent")
    if percent is not None:
        _check(percent_field_problem(percent, "trail_percent"))
    prices["trail_percent"] = percent
    return prices


def time_param(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    text = value if "T" in value else f"{value}T00:00:00Z"
    try:
        return to_utc(text)
    except ValueError as exc:
        raise AlpacaError(422, 42210000, f"invalid {name}") from exc


def orders_router(ctx: AlpacaContext) -> APIRouter:
    """The order endpoints, bound to ``ctx``."""
    router = APIRouter()
    env = ctx.env
    engine = env.engine

    def show(order: Order) -> dict[str, Any]:
        return order_json(order, accepted=ctx.is_queued(order))

    def resolve_side(account_id: str, instrument: Instrument, side: str,
                     intent: str | None, quantity: Decimal) -> OrderSide:
        if side not in ("buy", "sell"):
            raise unprocessable("invalid side")
        account = engine.account_settings(account_id)
        holding = account.holdings.get(instrument.symbol)
        held = holding.quantity if holding else ZERO
        committed = holding.reserved_to_close if holding else ZERO
        if instrument.asset_type is AssetType.OPTION:
            if intent is not None:
                chosen = _INTENTS.get(intent)
                if chosen is None or chosen.is_buy != (side == "buy"):
                    raise unprocessable("invalid position_intent")
            elif side == "buy":
                chosen = OrderSide.BUY_TO_CLOSE if held < 0 else OrderSide.BUY_TO_OPEN
            else:
                chosen = OrderSide.SELL_TO_CLOSE if held > 0 else OrderSide.SELL_TO_OPEN
        elif side == "buy":
            chosen = OrderSide.BUY_TO_COVER if held < 0 else OrderSide.BUY
        elif held > 0 or account.account_type is not AccountType.MARGIN:
            chosen = OrderSide.SELL
        else:
            chosen = OrderSide.SELL_SHORT
        if chosen in _CLOSING:
            available = (held if _CLOSING[chosen] else -held) - committed
            if quantity > available:
                raise insufficient_qty(quantity, max(available, ZERO))
        return chosen

    def build_request(account_id: str, body: dict[str, Any]) -> OrderRequest:
        if body.get("order_class") not in (None, "", "simple"):
            raise unprocessable(f"order_class {body['order_class']} is not supported by "
                                "this emulator")
        symbol = str(body.get("symbol") or "").strip()
        if not symbol:
            raise unprocessable("symbol is required")
        try:
            instrument = engine.instrument(symbol)
        except SymbolNotFoundError as exc:
            raise unprocessable(f'asset "{symbol}" not found') from exc
        order_type = str(body.get("type") or body.get("order_type") or "")
        if order_type not in {t.value for t in OrderType}:
            raise unprocessable("invalid order type")
        tif = str(body.get("time_in_force") or "")
        if tif not in {t.value for t in TimeInForce}:
            raise unprocessable("invalid time_in_force")
        is_option = instrument.asset_type is AssetType.OPTION
        quantity = _quantity(body, option=is_option)
        notional = _notional(body)
        if (quantity is None) == (notional is None):
            raise unprocessable("qty or notional is required, not both")
        prices = _prices(body, option=is_option)
        if notional is not None:
            if order_type != "market" or is_option:
                raise unprocessable("notional orders must be market orders for stocks")
            ask = engine.sim_quote(instrument.symbol).ask
            quantity = (notional / ask).quantize(_SHARE_STEP, ROUND_DOWN)
            if quantity <= 0:
                raise invalid_field(f"notional {notional:f} buys less than {_SHARE_STEP:f} "
                                    "shares")
        assert quantity is not None  # noqa: S101  (one of the two was given)
        if is_option and order_type == "market" and not engine.is_open():
            raise unprocessable("options market orders are only allowed during market hours")
        side = resolve_side(account_id, instrument, str(body.get("side") or ""),
                            body.get("position_intent"), quantity)
        client_order_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_order_id) > 128:
            raise unprocessable("client_order_id must be no more than 128 characters")
        try:
            return OrderRequest(
                symbol=instrument.symbol, side=side, quantity=quantity,
                order_type=OrderType(order_type), time_in_force=TimeInForce(tif),
                **prices,
                extended_hours=bool(body.get("extended_hours") or False),
                client_order_id=client_order_id)
        except InvalidOrderError as exc:
            raise unprocessable(exc.message) from exc

    @router.post("/v2/orders")
    async def place_order(request: Request) -> Response:
        account_id = ctx.account_for(request)
        try:
            body = await read_json(request)
        except BodyError as exc:
            raise AlpacaError(400, 40010000, "request body format is invalid") from exc
        order_request = build_request(account_id, body)
        try:
            placed = engine.place_order(account_id, order_request)
        except BrokerError as exc:
            raise from_engine(exc, symbol=order_request.symbol) from exc
        return ctx.respond(account_id, show(placed))

    @router.get("/v2/orders")
    async def list_orders(request: Request, status: str = "open", limit: int = DEFAULT_LIMIT,
                          after: str | None = None, until: str | None = None,
                          direction: str = "desc", symbols: str | None = None,
                          side: str | None = None, nested: bool = False) -> Response:
        account_id = ctx.account_for(request)
        if status not in ("open", "closed", "all"):
            raise unprocessable("invalid status")
        if direction not in ("asc", "desc"):
            raise unprocessable("invalid direction")
        if not 1 <= limit <= MAX_LIMIT:
            raise unprocessable(f"limit must be between 1 and {MAX_LIMIT}")
        start, end = time_param(after, "after"), time_param(until, "until")
        wanted = {s.strip().upper() for s in symbols.split(",")} if symbols else None
        orders = []
        for order in engine.orders(account_id):
            if status == "open" and not order.is_open:
                continue
            if status == "closed" and order.is_open:
                continue
            submitted = order.submitted_at
            if start is not None and (submitted is None or submitted <= start):
                continue
            if end is not None and (submitted is None or submitted >= end):
                continue
            if wanted is not None and order.symbol.upper() not in wanted:
                continue
            if side is not None and ("buy" if order.side.is_buy else "sell") != side:
                continue
            orders.append(order)
        # The engine lists newest first; Alpaca's limit applies after ordering.
        if direction == "asc":
            orders.reverse()
        return ctx.respond(account_id, [show(o) for o in orders[:limit]])

    @router.get("/v2/orders:by_client_order_id")
    async def get_order_by_client_order_id(request: Request,
                                           client_order_id: str = "") -> Response:
        account_id = ctx.account_for(request)
        try:
            order = engine.get_order_by_client_id(account_id, client_order_id)
        except BrokerError as exc:
            raise not_found() from exc
        return ctx.respond(account_id, show(order))

    @router.get("/v2/orders/{order_id}")
    async def get_order(order_id: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        try:
            order = engine.get_order(account_id, order_id)
        except BrokerError as exc:
            raise not_found() from exc
        return ctx.respond(account_id, show(order))

    @router.patch("/v2/orders/{order_id}")
    async def replace_order(order_id: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        try:
            body = await read_json(request)
        except BodyError as exc:
            raise AlpacaError(400, 40010000, "request body format is invalid") from exc
        try:
            old = engine.get_order(account_id, order_id)
        except BrokerError as exc:
            raise not_found() from exc
        if not old.is_open:
            raise unprocessable(f"order is {old.status.value} and cannot be replaced")
        option = old.asset_type is AssetType.OPTION
        # PatchOrderRequest.qty: "You can only patch full shares for now."
        quantity = _number(body, "qty")
        if quantity is not None:
            _check(quantity_field_problem(quantity, "qty", whole=True, max_places=0))
        limit_price, stop_price = _number(body, "limit_price"), _number(body, "stop_price")
        for name, price in (("limit_price", limit_price), ("stop_price", stop_price)):
            if price is not None:
                _check(price_field_problem(price, name, option=option))
        trail = _number(body, "trail")
        if trail is not None:
            _check(percent_field_problem(trail, "trail") if old.trail_percent is not None
                   else price_field_problem(trail, "trail", option=option))
        tif = body.get("time_in_force")
        try:
            changes = OrderModify(
                quantity=quantity, limit_price=limit_price, stop_price=stop_price,
                time_in_force=TimeInForce(tif) if tif else None,
                trail_amount=trail if trail is not None and old.trail_percent is None else None,
                trail_percent=trail if trail is not None and old.trail_percent is not None
                else None,
                # Alpaca gives the replacement a fresh client order id unless one is sent.
                client_order_id=body.get("client_order_id") or str(uuid.uuid4()))
        except (InvalidOrderError, ValueError) as exc:
            message = exc.message if isinstance(exc, InvalidOrderError) else str(exc)
            raise unprocessable(message) from exc
        try:
            replacement = engine.modify_order(account_id, order_id, changes,
                                              style=ModifyStyle.CANCEL_REPLACE)
        except BrokerError as exc:
            raise from_engine(exc, symbol=old.symbol) from exc
        return ctx.respond(account_id, show(replacement))

    @router.delete("/v2/orders/{order_id}")
    async def cancel_order(order_id: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        try:
            order = engine.get_order(account_id, order_id)
        except BrokerError as exc:
            raise not_found() from exc
        if not order.is_open:
            raise unprocessable("order is not cancelable")
        engine.cancel_order(account_id, order_id)
        return ctx.no_content(account_id)

    @router.delete("/v2/orders")
    async def cancel_all_orders(request: Request) -> Response:
        account_id = ctx.account_for(request)
        results = []
        for order in engine.orders(account_id):
            if order.is_open:
                engine.cancel_order(account_id, order.order_id)
                results.append({"id": order.order_id, "status": 200})
        return ctx.respond(account_id, results, 207)

    return router
