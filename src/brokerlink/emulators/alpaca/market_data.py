"""Market data of the Alpaca emulator: latest stock and option quotes and trades.

Served by the same app as trading: point the data base URL at the emulator too. Prices
are JSON numbers, as ``market-data-api.json`` specifies. Unknown symbols are left out
of the multi-symbol answers (as Alpaca leaves out symbols it has no data for); the
single-symbol endpoint answers 404 ``{"code": 40410000, "message": ...}`` for them (the
spec does not document this case).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerlink.core.enums import AssetType
from brokerlink.core.errors import SymbolNotFoundError
from brokerlink.emulators.alpaca.context import AlpacaContext
from brokerlink.emulators.alpaca.errors import AlpacaError, not_found
from brokerlink.emulators.alpaca.serialize import (
    option_quote_json,
    option_trade_json,
    stock_quote_json,
    stock_trade_json,
)
from brokerlink.sim.prices import SimQuote
from brokerlink.sim.universe import Instrument


def market_data_router(ctx: AlpacaContext) -> APIRouter:
    """The data endpoints, bound to ``ctx``."""
    router = APIRouter()
    engine = ctx.env.engine

    def find(symbol: str, *, option: bool) -> Instrument | None:
        try:
            instrument = engine.instrument(symbol)
        except SymbolNotFoundError:
            return None
        return instrument if (instrument.asset_type is AssetType.OPTION) == option else None

    def symbols_of(raw: str | None) -> list[str]:
        symbols = [s.strip() for s in (raw or "").split(",") if s.strip()]
        if not symbols:
            raise AlpacaError(400, None, "symbols is required")
        return symbols

    def latest(symbols: str | None, *, option: bool,
               render: Callable[[SimQuote, Instrument], dict[str, Any]]
               ) -> dict[str, dict[str, Any]]:
        """The multi-symbol endpoints: each known symbol rendered from its current quote;
        unknown symbols are left out, as Alpaca does."""
        found: dict[str, dict[str, Any]] = {}
        for symbol in symbols_of(symbols):
            instrument = find(symbol, option=option)
            if instrument is not None:
                found[symbol] = render(engine.sim_quote(instrument.symbol), instrument)
        return found

    @router.get("/v2/stocks/{symbol}/quotes/latest")
    async def get_stock_latest_quote(symbol: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        instrument = find(symbol, option=False)
        if instrument is None:
            raise not_found(f"no quote found for {symbol}")
        quote = engine.sim_quote(instrument.symbol)
        return ctx.respond(account_id, {"symbol": symbol,
                                        "quote": stock_quote_json(quote, instrument)},
                           decimals_as_numbers=True)

    @router.get("/v2/stocks/quotes/latest")
    async def get_stock_latest_quotes(request: Request, symbols: str | None = None) -> Response:
        account_id = ctx.account_for(request)
        quotes = latest(symbols, option=False, render=stock_quote_json)
        return ctx.respond(account_id, {"quotes": quotes},
                           decimals_as_numbers=True)

    @router.get("/v1beta1/options/quotes/latest")
    async def get_option_latest_quotes(request: Request,
                                       symbols: str | None = None) -> Response:
        account_id = ctx.account_for(request)
        quotes = latest(symbols, option=True,
                        render=lambda quote, _instrument: option_quote_json(quote))
        return ctx.respond(account_id, {"quotes": quotes},
                           decimals_as_numbers=True)

    @router.get("/v2/stocks/{symbol}/trades/latest")
    async def get_stock_latest_trade(symbol: str, request: Request) -> Response:
        account_id = ctx.account_for(request)
        instrument = find(symbol, option=False)
        if instrument is None:
            raise not_found(f"no trade found for {symbol}")
        trade = stock_trade_json(engine.sim_quote(instrument.symbol), instrument)
        return ctx.respond(account_id, {"symbol": symbol, "trade": trade},
                           decimals_as_numbers=True)

    @router.get("/v2/stocks/trades/latest")
    async def get_stock_latest_trades(request: Request, symbols: str | None = None) -> Response:
        account_id = ctx.account_for(request)
        trades = latest(symbols, option=False, render=stock_trade_json)
        return ctx.respond(account_id, {"trades": trades},
                           decimals_as_numbers=True)

    @router.get("/v1beta1/options/trades/latest")
    async def get_option_latest_trades(request: Request,
                                       symbols: str | None = None) -> Response:
        account_id = ctx.account_for(request)
        trades = latest(symbols, option=True,
                        render=lambda quote, _instrument: option_trade_json(quote))
        return ctx.respond(account_id, {"trades": trades},
                           decimals_as_numbers=True)

    return router
