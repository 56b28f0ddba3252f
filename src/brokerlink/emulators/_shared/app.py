"""``create_emulator_app``: one FastAPI app per emulator, assembled the same way.

Broker routers (the broker's real paths) + the admin router (``/_emulator``) + the
fault middleware + the wall-clock follower. The environment is ``app.state.env``.
A broker's ``create_app`` typically reads::

    def create_app(env=None, *, strict=False, seed=7, follow_wall_clock=False):
        env = env or EmulatorEnv.create(BrokerType.X, seed=seed, strict=strict,
                                        follow_wall_clock=follow_wall_clock)
        env.faults.default_bodies.update({429: {...}, 500: {...}})
        app = create_emulator_app(env, trading_router(env), title="X emulator")
        app.add_exception_handler(EmulatorAuthError, x_unauthorized_handler)
        return app
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, FastAPI

from brokerlink.emulators._shared.admin import admin_router
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.faults import (
    ASGIApp,
    FaultMiddleware,
    Message,
    Receive,
    Scope,
    Send,
)


class ClockMiddleware:
    """Before each request or websocket, let a wall-clock-following env catch up; stamp
    every HTTP response with a ``Date`` header from the *engine's* clock.

    Real brokers' ``Date`` is their server time; an emulator's server time is virtual.
    Adapters may take ``as_of`` from it, so it must agree with the timestamps in bodies
    (``EmulatorServer`` turns off uvicorn's own wall-clock ``Date`` header)."""

    def __init__(self, app: ASGIApp, env: EmulatorEnv) -> None:
        self.app = app
        self.env = env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.env.sync_clock()
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"date"]
                stamp = format_datetime(self.env.engine.now(), usegmt=True)
                message = {**message, "headers": [*headers, (b"date", stamp.encode())]}
            await send(message)

        await self.app(scope, receive, send_dated)


def create_emulator_app(env: EmulatorEnv, *routers: APIRouter, title: str) -> FastAPI:
    """A FastAPI app serving ``routers`` from ``env``, with the admin API under
    ``/_emulator`` and fault injection around every broker path. Interactive docs are
    at ``/_emulator/docs`` so they never shadow a broker path."""
    app = FastAPI(title=title, docs_url="/_emulator/docs", redoc_url=None,
                  openapi_url="/_emulator/openapi.json")
    app.state.env = env
    for router in routers:
        app.include_router(router)
    app.include_router(admin_router(env))
    # add_middleware wraps outermost-last: the clock catches up before faults are decided.
    routes = [route for router in routers for route in router.routes]
    app.add_middleware(FaultMiddleware, injector=env.faults, routes=routes)
    app.add_middleware(ClockMiddleware, env=env)
    return app


def env_of(app: Any) -> EmulatorEnv:
    """The ``EmulatorEnv`` behind an emulator app. Raises ``TypeError`` if it has none."""
    env = getattr(getattr(app, "state", None), "env", None)
    if not isinstance(env, EmulatorEnv):
        raise TypeError("not an emulator app (no app.state.env)")
    return env
