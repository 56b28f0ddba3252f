"""Tradier order routes: list, get, place (equity, option, multileg/combo, preview),
change (PUT, same id) and cancel (DELETE).

Validation failures answer HTTP 400 with ``{"errors": {"error": [...]}}``. Numbers follow
the core Decimal policy (``emulators._shared.numbers``): finite, bounded, ASCII digits,
whole quantities (Tradier takes no fractional shares), prices on the US tick. risk and
account rejections (buying power, position, permission) answer **HTTP 200** with an
``errors`` body, as Tradier documents. A refused order leaves no trace in the engine, so
unlike Tradier (which may later list it as ``rejected``) no rejected order is listed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import AssetType, OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import (
    BrokerError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    SymbolNotFoundError,
)
from brokerlink.core.models import Order, OrderModify, OrderRequest
from brokerlink.core.symbols import parse_occ
from brokerlink.emulators._shared.numbers import (
    NumberFieldError,
    price_field_problem,
    quantity_field_problem,
    read_number,
)
from brokerlink.emulators.tradier import serialize
from brokerlink.emulators.tradier.context import TradierContext, TradierHTTPError, params_of
from brokerlink.emulators.tradier.state import OrderMeta
from brokerlink.emulators.tradier.wire import iso_ms

PARTNER_ID = "5f0c6b1e-7d3a-4c52-9a0e-8b1d2c3e4f50"
"""The emulated OAuth partner's id, echoed on every accepted order."""

EQUITY_SIDES = frozenset({"buy", "buy_to_cover", "sell", "sell_short"})
OPTION_SIDES = frozenset({"buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close"})
SINGLE_TYPES = frozenset({"market", "limit", "stop", "stop_limit"})
MULTILEG_TYPES = frozenset({"market", "debit", "credit", "even"})
DURATIONS = frozenset({"day", "gtc", "pre", "post"})
TAG = re.compile(r"^[A-Za-z0-9-]{1,255}$")
MAX_LEGS = 4


@dataclass(frozen=True, slots=True)
class Parsed:
    request: OrderRequest
    meta: OrderMeta


def _decimal(params: dict[str, str], name: str, errors: list[str]) -> Decimal | None:
    """Form field ``name`` under the core policy, or ``None`` (absent, or refused with a
    message added to ``errors``)."""
    try:
        value = read_number(params.get(name), name)
    except NumberFieldError as exc:
        errors.append(f"Invalid parameter, {name}: {exc.rule}")
        return None
    if value is not None and value <= 0:
        errors.append(f"Invalid parameter, {name}: must be greater than zero")
        return None
    return value


def _quantity(params: dict[str, str], name: str, errors: list[str]) -> Decimal | None:
    """A whole, bounded quantity, or ``None`` (refusals added to ``errors``)."""
    quantity = _decimal(params, name, errors)
    if quantity is None:
        return None
    problem = quantity_field_problem(quantity, name, whole=True, max_places=0)
    if problem is not None:
        errors.append(f"Invalid parameter, {name}: {problem}")
        return None
    return quantity


def _price(params: dict[str, str], name: str, errors: list[str], *,
           option: bool) -> Decimal | None:
    """A positive price on the tick (options: cents), or ``None`` (refusals added to
    ``errors``)."""
    price = _decimal(params, name, errors)
    if price is None:
        return None
    problem = price_field_problem(price, name, option=option)
    if problem is not None:
        errors.append(f"Invalid parameter, {name}: {problem}")
        return None
    return price


def _tif(duration: str) -> tuple[TimeInForce, bool]:
    if duration == "gtc":
        return TimeInForce.GTC, False
    return TimeInForce.DAY, duration in ("pre", "post")


def _parse_single(params: dict[str, str], order_class: str, account_id: str) -> Parsed:
    """An equity or option order from form fields. Raises ``TradierHTTPError(400)``."""
    errors: list[str] = []
    for name in ("symbol", "side", "quantity", "type", "duration"):
        if not params.get(name):
            errors.append(f"Missing required parameter: {name}")
    side, kind, duration = params.get("side", ""), params.get("type", ""), \
        params.get("duration", "")
    sides = EQUITY_SIDES if order_class == "equity" else OPTION_SIDES
    if side and side not in sides:
        errors.append(f"side is invalid for class {order_class}")
    if kind and kind not in SINGLE_TYPES:
        errors.append(f"type is invalid for class {order_class}")
    if duration and duration not in DURATIONS:
        errors.append(f"Invalid parameter, duration: {duration}")
    quantity = _quantity(params, "quantity", errors)
    option = order_class == "option"
    price = _price(params, "price", errors, option=option)
    stop = _price(params, "stop", errors, option=option)
    # "Missing" only when absent: a value given and refused was reported above.
    if kind in ("limit", "stop_limit") and not params.get("price"):
        errors.append(f"Missing required parameter: price (required for {kind} orders)")
    if kind in ("stop", "stop_limit") and not params.get("stop"):
        errors.append(f"Missing required parameter: stop (required for {kind} orders)")
    option_symbol = params.get("option_symbol", "").strip().upper() or None
    if order_class == "option" and option_symbol is None:
        errors.append("Missing required parameter: option_symbol")
    tag = params.get("tag") or None
    if tag is not None and not TAG.match(tag):
        errors.append("Invalid parameter, tag: use up to 255 letters, digits and dashes")
    if duration in ("pre", "post") and kind != "limit":
        errors.append("pre and post session orders must be limit orders")
    if errors:
        raise TradierHTTPError(400, *errors)
    assert quantity is not None  # noqa: S101  (checked above)
    tif, extended = _tif(duration)
    engine_cid = f"tr-{uuid.uuid4().hex[:24]}"
    symbol = params["symbol"].strip().upper()
    if option_symbol is not None:
        try:
            if parse_occ(option_symbol).root != symbol.replace(".", ""):
                raise TradierHTTPError(400, "option_symbol does not match symbol")
        except (SymbolNotFoundError, InvalidOrderError) as exc:
            raise TradierHTTPError(
                400, f"Invalid parameter, option_symbol: {option_symbol}") from exc
    try:
        request = OrderRequest(
            symbol=option_symbol or symbol, side=OrderSide(side), quantity=quantity,
            order_type=OrderType(kind),
            limit_price=price if kind in ("limit", "stop_limit") else None,
            stop_price=stop if kind in ("stop", "stop_limit") else None,
            time_in_force=tif, extended_hours=extended, client_order_id=engine_cid)
    except InvalidOrderError as exc:
        raise TradierHTTPError(400, exc.message) from exc
    meta = OrderMeta(order_class=order_class, duration=duration, tag=tag,
                     option_symbol=option_symbol, engine_cid=engine_cid,
                     account_id=account_id)
    return Parsed(request, meta)


def rejection(exc: BrokerError, symbol: str) -> TradierHTTPError:
    """An engine refusal as Tradier words it (see the module docstring for statuses)."""
    if isinstance(exc, SymbolNotFoundError):
        return TradierHTTPError(400, f"Invalid parameter, {symbol}: symbol not found.")
    if isinstance(exc, InsufficientFundsError):
        return TradierHTTPError(200, "You do not have enough buying power for this trade.")
    if isinstance(exc, PermissionDeniedError):
        return TradierHTTPError(200, f"AccountIsNotApproved: {exc.message}")
    if isinstance(exc, MarketClosedError):
        return TradierHTTPError(200, f"MarketClosed: {exc.message}")
    return TradierHTTPError(200, exc.message)


class OrderDesk:
    """The order logic, bound to one emulator context."""

    def __init__(self, ctx: TradierContext) -> None:
        self.ctx = ctx
        self.engine = ctx.env.engine
        self.state = ctx.state

    # --- reading ---------------------------------------------------------------------

    def payload(self, order_id: int, *, include_tag: bool) -> dict[str, Any]:
        meta = self.state.meta[order_id]
        account_id = meta.account_id
        fills = serialize.last_fills(self.engine.transactions(
            account_id, meta.created_at or self.engine.now(), self.engine.now()))
        if meta.legs:
            leg_orders = [self._engine_order(leg) for leg in meta.legs]
            legs = [serialize.order(o, leg, self.state.meta[leg], fills.get(o.order_id),
                                    include_tag=include_tag)
                    for leg, o in zip(meta.legs, leg_orders, strict=True)]
            return serialize.multileg(order_id, meta, legs, leg_orders,
                                      include_tag=include_tag)
        o = self._engine_order(order_id)
        return serialize.order(o, order_id, meta, fills.get(o.order_id),
                               include_tag=include_tag)

    def _engine_order(self, order_id: int) -> Order:
        meta = self.state.meta[order_id]
        assert meta.engine_id is not None  # noqa: S101  (single legs always have one)
        return self.engine.get_order(meta.account_id, meta.engine_id)

    def find(self, account_id: str, raw_id: str) -> int:
        """The order ``raw_id`` of ``account_id``. Raises ``TradierHTTPError``."""
        try:
            order_id = int(raw_id)
        except ValueError as exc:
            raise TradierHTTPError(400, f"Invalid parameter, id: {raw_id}") from exc
        meta = self.state.meta.get(order_id)
        if meta is None or meta.account_id != account_id or meta.parent is not None:
            raise TradierHTTPError(404, "Order not found")
        return order_id

    # --- placing ---------------------------------------------------------------------

    def place(self, account_id: str, params: dict[str, str]) -> dict[str, Any]:
        order_class = params.get("class", "")
        if order_class in ("multileg", "combo"):
            return self._place_multileg(account_id, params, order_class)
        if order_class not in ("equity", "option"):
            supported = "equity, option, multileg, combo"
            raise TradierHTTPError(400, f"Invalid parameter, class: {order_class or 'missing'}"
                                        f" (this emulator takes {supported})")
        parsed = _parse_single(params, order_class, account_id)
        if params.get("preview") == "true":
            return self._preview(account_id, parsed)
        order_id = self._submit(account_id, parsed)
        return serialize.order_ack(order_id, PARTNER_ID)

    def _submit(self, account_id: str, parsed: Parsed) -> int:
        parsed.meta.created_at = self.engine.now()
        order_id = self.state.register(parsed.meta)
        try:
            placed = self.engine.place_order(account_id, parsed.request)
        except BrokerError as exc:
            self.state.discard(order_id)
            raise rejection(exc, parsed.request.instrument_symbol) from exc
        self.state.bind(order_id, placed.order_id)
        return order_id

    def _preview(self, account_id: str, parsed: Parsed) -> dict[str, Any]:
        request = parsed.request
        try:
            instrument = self.engine.instrument(request.instrument_symbol)
            quote = self.engine.sim_quote(instrument.symbol)
        except BrokerError as exc:
            raise rejection(exc, request.instrument_symbol) from exc
        price = request.limit_price or request.stop_price or (
            quote.ask if request.side.is_buy else quote.bid)
        notional = request.quantity * price * Decimal(instrument.multiplier)
        commission = self.engine.fees.fee(instrument, request.quantity)
        if request.side.is_buy and notional + commission > \
                self.engine.buying_power(account_id):
            raise TradierHTTPError(200, "You do not have enough buying power for this trade.")
        return {"order": {
            "status": "ok", "commission": commission, "cost": notional + commission,
            "fees": Decimal(0), "symbol": parsed.meta.option_symbol or request.symbol,
            "quantity": request.quantity, "side": request.side.value,
            "type": request.order_type.value, "duration": parsed.meta.duration,
            "result": True, "order_cost": notional, "margin_change": Decimal(0),
            # The documented example writes this one date without a zone.
            "request_date": iso_ms(self.engine.now()).removesuffix("Z"),
            "extended_hours": request.extended_hours, "class": parsed.meta.order_class,
            "strategy": parsed.meta.order_class if parsed.meta.order_class == "equity"
            else "option", "day_trades": 0}}

    def _place_multileg(self, account_id: str, params: dict[str, str],
                        order_class: str) -> dict[str, Any]:
        """Legs are placed as market orders one by one (the engine has no net-price
        book): ``debit``/``credit`` prices are recorded, not enforced. If a later leg is
        refused, earlier legs still working are canceled and the refusal is returned."""
        symbol = params.get("symbol", "").strip().upper()
        kind, duration = params.get("type", ""), params.get("duration", "")
        errors: list[str] = []
        if not symbol:
            errors.append("Missing required parameter: symbol")
        if kind not in MULTILEG_TYPES:
            errors.append(f"type is invalid for class {order_class}")
        if duration not in ("day", "gtc"):
            errors.append(f"Invalid parameter, duration: {duration or 'missing'}")
        # A net debit or credit is an option price: whole cents.
        price = _price(params, "price", errors, option=True)
        if kind in ("debit", "credit") and not params.get("price"):
            errors.append(f"Missing required parameter: price (required for {kind} orders)")
        legs: list[Parsed] = []
        for index in range(MAX_LEGS):
            side = params.get(f"side[{index}]")
            if side is None:
                continue
            option_symbol = params.get(f"option_symbol[{index}]")
            leg_params = {"symbol": symbol, "side": side, "type": "market",
                          "duration": "gtc" if duration == "gtc" else "day",
                          "quantity": params.get(f"quantity[{index}]", "")}
            leg_class = "equity"
            if option_symbol:
                leg_params["option_symbol"] = option_symbol
                leg_class = "option"
            elif order_class == "multileg":
                errors.append(f"Missing required parameter: option_symbol[{index}]")
                continue
            try:
                legs.append(_parse_single(leg_params, leg_class, account_id))
            except TradierHTTPError as exc:
                errors.extend(f"leg {index}: {m}" for m in exc.messages)
        if len(legs) < 2 and not errors:
            errors.append(f"a {order_class} order needs at least two legs")
        if errors:
            raise TradierHTTPError(400, *errors)
        if params.get("preview") == "true":
            return {"order": {"status": "ok", "result": True, "class": order_class,
                              "symbol": symbol, "type": kind, "duration": duration,
                              "num_legs": len(legs), "commission": Decimal(0),
                              "cost": Decimal(0), "fees": Decimal(0)}}
        parent = OrderMeta(order_class=order_class, duration=duration,
                           tag=params.get("tag") or None, symbol=symbol,
                           net_type=kind, net_price=price, account_id=account_id,
                           strategy=params.get("strategy") or None,
                           created_at=self.engine.now())
        placed: list[int] = []
        for leg in legs:
            try:
                placed.append(self._submit(account_id, leg))
            except TradierHTTPError:
                for done in placed:
                    order = self._engine_order(done)
                    if order.status.is_open:
                        self.engine.cancel_order(account_id, order.order_id)
                raise
        parent.legs = placed
        parent_id = self.state.register(parent)
        for leg_id in placed:
            self.state.meta[leg_id].parent = parent_id
        return serialize.order_ack(parent_id, PARTNER_ID)

    # --- changing --------------------------------------------------------------------

    def change(self, account_id: str, order_id: int, params: dict[str, str]) -> None:
        meta = self.state.meta[order_id]
        if meta.legs:
            raise TradierHTTPError(400, "multileg orders cannot be changed in this emulator;"
                                        " cancel and place a new one")
        current = self._engine_order(order_id)
        if not current.status.is_open:
            raise TradierHTTPError(
                400, f"Order {order_id} is already {serialize.STATUS[current.status]} and "
                     "cannot be changed")
        errors: list[str] = []
        kind, duration = params.get("type"), params.get("duration")
        if kind and kind != current.order_type.value:
            errors.append("this emulator cannot change an order's type; cancel and place a "
                          "new order")
        if duration and (duration in ("pre", "post") or meta.duration in ("pre", "post")):
            errors.append("pre and post session orders cannot be changed")
        elif duration and duration not in DURATIONS:
            errors.append(f"Invalid parameter, duration: {duration}")
        option = current.asset_type is AssetType.OPTION
        price = _price(params, "price", errors, option=option)
        stop = _price(params, "stop", errors, option=option)
        if price is not None and current.order_type not in (OrderType.LIMIT,
                                                            OrderType.STOP_LIMIT):
            errors.append(f"price is invalid for a {current.order_type.value} order")
        if stop is not None and current.order_type not in (OrderType.STOP,
                                                           OrderType.STOP_LIMIT):
            errors.append(f"stop is invalid for a {current.order_type.value} order")
        tif = _tif(duration)[0] if duration in ("day", "gtc") else None
        if not errors and price is None and stop is None and tif is None:
            errors.append("Missing parameters: give type, duration, price or stop to change")
        if errors:
            raise TradierHTTPError(400, *errors)
        try:
            self.engine.modify_order(account_id, current.order_id,
                                     OrderModify(limit_price=price, stop_price=stop,
                                                 time_in_force=tif),
                                     style=ModifyStyle.NATIVE)
        except BrokerError as exc:
            raise rejection(exc, current.symbol) from exc
        if duration:
            meta.duration = duration

    def cancel(self, account_id: str, order_id: int) -> None:
        meta = self.state.meta[order_id]
        targets = meta.legs or [order_id]
        orders = [self._engine_order(t) for t in targets]
        if not any(o.status.is_open for o in orders):
            status = serialize.STATUS[orders[0].status]
            raise TradierHTTPError(
                400, f"Order {order_id} is already {status} and cannot be canceled")
        for o in orders:
            if o.status.is_open:
                try:
                    self.engine.cancel_order(account_id, o.order_id)
                except (InvalidOrderError, OrderNotFoundError) as exc:
                    raise TradierHTTPError(400, exc.message) from exc


def orders_router(ctx: TradierContext) -> APIRouter:
    router = APIRouter(prefix="/v1/accounts/{account_id}/orders")
    desk = OrderDesk(ctx)
    engine = ctx.env.engine

    @router.get("")
    async def list_orders(account_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        q = request.query_params
        include_tag = q.get("includeTags", "false").lower() == "true"
        ids = ctx.state.orders_of(account_id)
        if q.get("filter") == "intraday":
            zone = serialize.NEW_YORK
            day = engine.now().astimezone(zone).date()
            ids = [i for i in ids if (ctx.state.meta[i].created_at or engine.now())
                   .astimezone(zone).date() == day]
        items = [desk.payload(i, include_tag=include_tag) for i in ids]
        limit = q.get("limit")
        if limit and limit.isdigit() and int(limit) > 0:
            page = int(q.get("page") or 1)
            items = items[(page - 1) * int(limit):page * int(limit)]
        return ctx.ok(request, serialize.orders(items))

    @router.get("/{order_id}")
    async def get_order(account_id: str, order_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        include_tag = request.query_params.get("includeTags", "false").lower() == "true"
        try:
            found = desk.find(account_id, order_id)
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        return ctx.ok(request, {"order": desk.payload(found, include_tag=include_tag)})

    @router.post("")
    async def place_order(account_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        try:
            return ctx.ok(request, desk.place(account_id, await params_of(request)))
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)

    @router.put("/{order_id}")
    async def modify_order(account_id: str, order_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        try:
            found = desk.find(account_id, order_id)
            desk.change(account_id, found, await params_of(request))
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        return ctx.ok(request, serialize.order_ack(found, PARTNER_ID))

    @router.delete("/{order_id}")
    async def cancel_order(account_id: str, order_id: str, request: Request) -> Response:
        ctx.account(request, account_id)
        try:
            found = desk.find(account_id, order_id)
            desk.cancel(account_id, found)
        except TradierHTTPError as exc:
            return ctx.fail(request, exc)
        return ctx.ok(request, serialize.order_ack(found))

    return router
