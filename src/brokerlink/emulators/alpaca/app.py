"""``create_app``: the Alpaca emulator (trading API v2, latest quotes, trade_updates).

Serves, from one ``SimEngine``, what ``../shared/specs/alpaca`` describes: see
``orders.py``, ``account.py``, ``market_data.py`` and ``stream.py``. The emulator is
commission-free like Alpaca (no per-contract option fee). Run it with
``brokerlink emulate alpaca`` or ``EmulatorServer(create_app())``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from brokerlink.emulators._shared.app import create_emulator_app
from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.jsonio import json_response
from brokerlink.emulators._shared.oauth_server import oauth_router
from brokerlink.emulators.alpaca.account import account_router
from brokerlink.emulators.alpaca.context import AlpacaContext
from brokerlink.emulators.alpaca.errors import UNAUTHORIZED_BODY, AlpacaError
from brokerlink.emulators.alpaca.market_data import market_data_router
from brokerlink.emulators.alpaca.orders import orders_router
from brokerlink.emulators.alpaca.spec import EMULATOR
from brokerlink.emulators.alpaca.stream import stream_router
from brokerlink.sim.rules import FeeSchedule

ALPACA_FEES = FeeSchedule(per_share=Decimal(0), per_contract=Decimal(0))


def create_env(*, seed: int = 7, strict: bool = False, start: datetime | None = None,
               follow_wall_clock: bool = False) -> EmulatorEnv:
    """A fresh Alpaca environment (commission-free); ``start`` pins the virtual clock."""
    return EmulatorEnv.create(EMULATOR.broker_type, seed=seed, strict=strict, start=start,
                              follow_wall_clock=follow_wall_clock, fees=ALPACA_FEES)


def create_app(env: EmulatorEnv | None = None, *, strict: bool = False, seed: int = 7,
               follow_wall_clock: bool = False) -> FastAPI:
    """The Alpaca emulator app; ``app.state.env`` is its ``EmulatorEnv`` (a fresh one
    from ``create_env`` unless ``env`` is given)."""
    env = env or create_env(seed=seed, strict=strict, follow_wall_clock=follow_wall_clock)
    ctx = AlpacaContext(env)
    routers = [account_router(ctx), orders_router(ctx), market_data_router(ctx),
               stream_router(ctx)]
    if EMULATOR.oauth is not None:
        routers.append(oauth_router(env, EMULATOR.oauth))
    app = create_emulator_app(env, *routers, title="Alpaca emulator (brokerlink)",
                              spec=EMULATOR)

    @app.exception_handler(EmulatorAuthError)
    async def unauthorized(request: Request, exc: EmulatorAuthError) -> Response:
        return json_response(UNAUTHORIZED_BODY, 401)

    @app.exception_handler(AlpacaError)
    async def alpaca_error(request: Request, exc: AlpacaError) -> Response:
        return json_response(exc.body, exc.status, ctx.headers(None))

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
        return json_response({"code": 42210000, "message": f"invalid {where}".strip()}, 422)

    return app
