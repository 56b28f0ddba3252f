"""The fake broker's wire, served for tests: accounts by key, market orders filled at
once at the symbol's price, ``POST /_emulator/prices`` to move a price.

Errors come in the fake broker's own shape, ``{"error": ...}``, for unknown routes too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

START_CASH = Decimal(10_000)
PRICES = {"AAPL": Decimal(150), "MSFT": Decimal(300), "KO": Decimal(60)}


@dataclass
class _Account:
    id: str
    cash: Decimal = START_CASH
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class FakeMarket:
    """Every account and price of one emulator."""

    prices: dict[str, Decimal] = field(default_factory=lambda: dict(PRICES))
    accounts: dict[str, _Account] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(env: Any = None, *, strict: bool = False, seed: int = 7,
               follow_wall_clock: bool = False) -> FastAPI:
    """A fresh emulator; ``strict`` accepts only keys starting with ``FK``."""
    market = FakeMarket()
    app = FastAPI(title="Fake broker emulator")
    app.state.market = market

    @app.exception_handler(HTTPException)
    async def not_found(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def account(request: Request) -> _Account | None:
        key, secret = request.headers.get("X-Fake-Key"), request.headers.get("X-Fake-Secret")
        if not key or not secret or (strict and not key.startswith("FK")):
            return None
        return market.accounts.setdefault(key, _Account(id=f"FAKE-{key[-6:]}"))

    def value(held: _Account) -> Decimal:
        return sum((qty * market.prices[sym] for sym, (qty, _) in held.positions.items()),
                   Decimal(0))

    @app.get("/v1/account")
    async def get_account(request: Request) -> JSONResponse:
        held = account(request)
        if held is None:
            return _error(401, "bad keys")
        return JSONResponse({"id": held.id, "cash": str(held.cash),
                             "positions_value": str(value(held))})

    @app.get("/v1/positions")
    async def get_positions(request: Request) -> JSONResponse:
        held = account(request)
        if held is None:
            return _error(401, "bad keys")
        return JSONResponse([{"symbol": sym, "qty": str(qty), "avg_price": str(avg),
                              "price": str(market.prices[sym])}
                             for sym, (qty, avg) in held.positions.items()])

    @app.post("/v1/orders")
    async def post_order(request: Request) -> JSONResponse:
        held = account(request)
        if held is None:
            return _error(401, "bad keys")
        body = await request.json()
        symbol, side, qty = body["symbol"].upper(), body["side"], Decimal(body["qty"])
        price = market.prices.get(symbol)
        if price is None:
            return _error(422, f"unknown symbol {symbol}")
        owned, avg = held.positions.get(symbol, (Decimal(0), Decimal(0)))
        if side == "buy":
            if qty * price > held.cash:
                return _error(422, "insufficient cash")
            held.cash -= qty * price
            avg = (owned * avg + qty * price) / (owned + qty)
            owned += qty
        else:
            if qty > owned:
                return _error(422, "not enough shares")
            held.cash += qty * price
            owned -= qty
        if owned:
            held.positions[symbol] = (owned, avg)
        else:
            held.positions.pop(symbol, None)
        order = {"id": f"F{next(market.ids)}", "client_order_id": body.get("client_order_id"),
                 "symbol": symbol, "side": side, "qty": str(qty), "status": "filled",
                 "filled_qty": str(qty), "fill_price": str(price),
                 "created_at": datetime.now(UTC).isoformat()}
        held.orders[order["id"]] = order
        return JSONResponse(order, status_code=201)

    @app.get("/v1/orders")
    async def get_orders(request: Request) -> JSONResponse:
        held = account(request)
        if held is None:
            return _error(401, "bad keys")
        return JSONResponse(list(held.orders.values()))

    @app.get("/v1/orders:by_client/{client_order_id}")
    async def get_by_client(client_order_id: str, request: Request) -> JSONResponse:
        held = account(request)
        if held is None:
            return _error(401, "bad keys")
        found = [o for o in held.orders.values() if o["client_order_id"] == client_order_id]
        return JSONResponse(found[0]) if found else _error(404, "no such order")

    @app.get("/v1/orders/{order_id}")
    async def get_order(order_id: str, request: Request) -> JSONResponse:
        held = account(request)
        if held is None:
            return _error(401, "bad keys")
        order = held.orders.get(order_id)
        return JSONResponse(order) if order else _error(404, "no such order")

    @app.get("/v1/quotes/{symbol}")
    async def get_quote(symbol: str, request: Request) -> JSONResponse:
        if account(request) is None:
            return _error(401, "bad keys")
        price = market.prices.get(symbol.upper())
        return JSONResponse({"price": str(price)}) if price else _error(404, "no symbol")

    @app.post("/_emulator/prices")
    async def set_price(request: Request) -> JSONResponse:
        body = await request.json()
        market.prices[body["symbol"].upper()] = Decimal(body["price"])
        return JSONResponse({"ok": True})

    return app
