"""``create_emulator_app``: one FastAPI app per emulator, assembled the same way.

Broker routers (the broker's real paths) + the admin router (``/_emulator``) + the
fault middleware + the wall-clock follower. The environment is ``app.state.env``.
Given the broker's ``EmulatorSpec``, the app also answers in the broker's own shapes:
unknown routes and refused methods with ``spec.error_body`` (never FastAPI's
``{"detail": "Not Found"}``), requests over the documented limit (``env.rates``, see
``_shared/ratelimit.py``) with the broker's 429, and injected faults with
``spec.fault_bodies``. A broker's ``create_app`` typically reads::

    def create_app(env=None, *, strict=False, seed=7, follow_wall_clock=False):
        env = env or EmulatorEnv.create(EMULATOR.broker_type, seed=seed, strict=strict,
                                        follow_wall_clock=follow_wall_clock)
        app = create_emulator_app(env, trading_router(env), title="X emulator",
                                  spec=EMULATOR)
        app.add_exception_handler(EmulatorAuthError, x_unauthorized_handler)
        return app
"""

from __future__ import annotations

from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokerlink.emulators._shared.admin import admin_router
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.faults import (
    ADMIN_PREFIX,
    ASGIApp,
    FaultMiddleware,
    Message,
    Receive,
    Scope,
    Send,
)
from brokerlink.emulators._shared.jsonio import json_response
from brokerlink.emulators._shared.ratelimit import RateLimited
from brokerlink.emulators._shared.spec import EmulatorSpec, ErrorBody, plain_error_body

FAULT_STATUSES = (429, 500, 502, 503, 504)


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


def error_response(spec: EmulatorSpec | None, status: int, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """``message`` as the broker's error body (``spec.error_body``), with ``status``."""
    shape: ErrorBody = spec.error_body if spec is not None else plain_error_body
    body = shape(status, message)
    if isinstance(body, str):
        return PlainTextResponse(body, status_code=status, headers=headers)
    response = json_response(body, status, headers)
    if spec is not None:
        response.headers["content-type"] = spec.error_content_type
    return response


def _install_broker_shapes(app: FastAPI, env: EmulatorEnv, spec: EmulatorSpec | None) -> None:
    if spec is not None:
        env.rates.policy = spec.rate_limit
        for status in FAULT_STATUSES:
            env.faults.default_bodies.setdefault(status, spec.fault_bodies.get(
                status, spec.error_body(status, HTTPStatus(status).phrase)))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it
        headers = dict(exc.headers or {})
        if request.url.path.startswith(ADMIN_PREFIX):
            return json_response({"error": str(exc.detail)}, exc.status_code, headers)
        message = "endpoint not found" if exc.status_code == 404 else str(exc.detail)
        return error_response(spec, exc.status_code, message, headers)

    async def rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimited)  # noqa: S101 - registered for it
        body = exc.policy.rejected_body
        if isinstance(body, str):
            return PlainTextResponse(body, status_code=429, headers=exc.headers())
        return json_response(body, 429, exc.headers())

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RateLimited, rate_limited)


def create_emulator_app(env: EmulatorEnv, *routers: APIRouter, title: str,
                        spec: EmulatorSpec | None = None) -> FastAPI:
    """A FastAPI app serving ``routers`` from ``env``, with the admin API under
    ``/_emulator`` and fault injection around every broker path; with ``spec``, errors,
    rate limits and fault bodies in that broker's shapes (see the module docstring).
    Interactive docs are at ``/_emulator/docs`` so they never shadow a broker path."""
    app = FastAPI(title=title, docs_url="/_emulator/docs", redoc_url=None,
                  openapi_url="/_emulator/openapi.json")
    app.state.env = env
    app.state.spec = spec
    _install_broker_shapes(app, env, spec)
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
