"""The Tradier emulator: Tradier's Brokerage API wire format served from ``SimEngine``.

Paths are Tradier's, under ``/v1`` (point a client's base URL at ``<server>/v1``).
Bearer-token auth (lenient by default: any well-formed token gets a funded account),
form-encoded requests, JSON with ``Accept: application/json`` and XML otherwise,
the single/array/``"null"`` collection quirk, ``X-Ratelimit-*`` headers with Tradier's
per-minute windows, and the account-events websocket. It never imports the adapter.

Known simplifications, each a place where the simulation cannot know better:

* account numbers are the engine's (``SIM...``), not ``VA...``/``6YA...``;
* history and gain/loss are up to date at once (Tradier's are updated nightly);
* a refused order leaves no trace (Tradier may later list it as ``rejected``);
* multileg/combo legs trade one by one at market; a net ``debit``/``credit`` price is
  recorded, not enforced; changing an order's ``type`` is refused;
* quotes have no OHLC, 52-week range, volume or greeks values (``null``/0);
* the account stream sends a heartbeat as soon as a client subscribes (Tradier: about
  once a minute), which gives clients a "subscribed" signal;
* rate limits are the production ones (120/120/60 per minute) for every token.

Emulator-only admin route, besides the shared ``/_emulator`` API:
``POST /_emulator/tradier/accounts/{id}/pdt`` ``{"pdt": true}`` makes a margin account
report ``account_type: "pdt"`` (Tradier's pattern-day-trader balances variant).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from brokerlink.emulators._shared.app import create_emulator_app
from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.jsonio import read_json
from brokerlink.emulators._shared.oauth_server import oauth_router
from brokerlink.emulators.tradier.accounts import accounts_router
from brokerlink.emulators.tradier.context import TradierContext
from brokerlink.emulators.tradier.errors import UNAUTHORIZED_TEXT
from brokerlink.emulators.tradier.markets import markets_router
from brokerlink.emulators.tradier.orders import orders_router
from brokerlink.emulators.tradier.spec import EMULATOR, RATE_LIMIT_TEXT
from brokerlink.emulators.tradier.stream import streaming_router

__all__ = ["RATE_LIMIT_TEXT", "create_app"]


def _admin_router(ctx: TradierContext) -> APIRouter:
    router = APIRouter(prefix="/_emulator/tradier", include_in_schema=False)

    @router.post("/accounts/{account_id}/pdt")
    async def set_pdt(account_id: str, request: Request) -> Response:
        if not ctx.env.engine.has_account(account_id):
            return JSONResponse({"error": f"no account {account_id!r}"}, status_code=404)
        body = await read_json(request)
        if body.get("pdt", True):
            ctx.state.pdt_accounts.add(account_id)
        else:
            ctx.state.pdt_accounts.discard(account_id)
        return JSONResponse({"account_id": account_id,
                             "pdt": account_id in ctx.state.pdt_accounts})

    return router


def create_app(env: EmulatorEnv | None = None, *, strict: bool = False, seed: int = 7,
               follow_wall_clock: bool = False) -> FastAPI:
    """A Tradier emulator app on ``env`` (a fresh one if None); ``app.state.env`` is the
    environment and ``app.state.tradier`` the Tradier-specific state."""
    env = env or EmulatorEnv.create(EMULATOR.broker_type, seed=seed, strict=strict,
                                    follow_wall_clock=follow_wall_clock)
    ctx = TradierContext(env)
    routers = [accounts_router(ctx), orders_router(ctx), markets_router(ctx),
               streaming_router(ctx), _admin_router(ctx)]
    if EMULATOR.oauth is not None:
        routers.append(oauth_router(env, EMULATOR.oauth))
    # Injected faults, unknown routes and the rate limit answer in Tradier's shapes.
    app = create_emulator_app(env, *routers, title="Tradier emulator", spec=EMULATOR)
    app.state.tradier = ctx

    async def unauthorized(request: Request, exc: Exception) -> Response:
        # Tradier's 401 is plain text, not a JSON error body (REFERENCE.md section 2).
        return PlainTextResponse(UNAUTHORIZED_TEXT, status_code=401)

    app.add_exception_handler(EmulatorAuthError, unauthorized)
    return app
