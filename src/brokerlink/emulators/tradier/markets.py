"""Tradier market-data routes: quotes (GET or POST form) and the market clock."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerlink.core.errors import SymbolNotFoundError
from brokerlink.emulators.tradier import serialize
from brokerlink.emulators.tradier.context import TradierContext, TradierHTTPError, params_of
from brokerlink.sim.calendar import MarketSession


def markets_router(ctx: TradierContext) -> APIRouter:
    router = APIRouter(prefix="/v1/markets")
    engine = ctx.env.engine

    async def answer_quotes(request: Request) -> Response:
        ctx.authenticate(request)
        params = await params_of(request)
        symbols = [s.strip() for s in params.get("symbols", "").split(",") if s.strip()]
        if not symbols:
            return ctx.fail(request, TradierHTTPError(400,
                                                      "Missing required parameter: symbols"))
        greeks = params.get("greeks", "false").lower() == "true"
        found, unmatched = [], []
        for symbol in symbols:
            try:
                instrument = engine.instrument(symbol)
                quote = engine.sim_quote(instrument.symbol)
            except SymbolNotFoundError:
                # Unknown symbols are not an error at Tradier: they are listed apart.
                unmatched.append(symbol.upper())
                continue
            found.append(serialize.quote(instrument, quote, greeks=greeks))
        return ctx.ok(request, serialize.quotes(found, unmatched))

    @router.get("/quotes")
    async def get_quotes(request: Request) -> Response:
        return await answer_quotes(request)

    @router.post("/quotes")
    async def post_quotes(request: Request) -> Response:
        return await answer_quotes(request)

    @router.get("/clock")
    async def get_clock(request: Request) -> Response:
        ctx.authenticate(request)
        now = engine.now()
        session = engine.session()
        times = engine.calendar.session_for(now)
        if session is MarketSession.PRE and times is not None:
            change = times.open
        elif session is MarketSession.REGULAR and times is not None:
            change = times.close
        elif session is MarketSession.POST and times is not None:
            change = times.post_close
        else:
            following = engine.calendar.session_for(engine.next_open())
            change = following.pre_open if following is not None else engine.next_open()
        return ctx.ok(request, serialize.clock(now, session, change))

    return router
