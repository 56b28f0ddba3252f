"""Tradier account streaming: ``POST /v1/accounts/events/session`` then the websocket
``/v1/accounts/events``, where the client sends ``{"events": ["order"], "sessionid": ...}``
and receives one JSON order message per frame (REFERENCE.md section 7).

Messages are written by this emulator's own encoder (numbers as JSON numbers), which the
shared stream pump (``StreamHub.pump``) sends; it honours the injector's stream faults
(``stream_drop`` and ``stream_skip``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response
from starlette.websockets import WebSocketDisconnect

from brokerlink.emulators.tradier import serialize
from brokerlink.emulators.tradier.context import TradierContext
from brokerlink.emulators.tradier.wire import dumps, iso_ms
from brokerlink.sim.events import EventKind, SimEvent

STREAM_PATH = "/v1/accounts/events"

_ORDER_KINDS = frozenset({EventKind.NEW, EventKind.PARTIAL_FILL, EventKind.FILL,
                          EventKind.CANCELED, EventKind.EXPIRED, EventKind.REJECTED})


def order_encoder(ctx: TradierContext) -> Any:
    def encode(event: SimEvent) -> Sequence[Any]:
        order = event.order
        if order is None or event.kind not in _ORDER_KINDS:
            return ()
        order_id = ctx.state.id_for_engine(order.order_id) or \
            ctx.state.id_for_cid(order.client_order_id)
        if order_id is None:
            return ()
        meta = ctx.state.meta[order_id]
        return (serialize.stream_order_event(order, order_id, event.account_id, meta.tag,
                                             event.fill_quantity),)
    return encode


def streaming_router(ctx: TradierContext) -> APIRouter:
    router = APIRouter()
    env = ctx.env

    @router.post("/v1/accounts/events/session")
    async def create_account_session(request: Request) -> Response:
        account_id = ctx.authenticate(request)
        session_id = ctx.state.open_session(account_id, env.engine.now())
        base = str(request.base_url).rstrip("/")
        url = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return ctx.ok(request, {"stream": {"url": url + STREAM_PATH,
                                           "sessionid": session_id}})

    @router.websocket(STREAM_PATH)
    async def account_events(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            first = json.loads(await websocket.receive_text())
        except (WebSocketDisconnect, ValueError):
            return
        session_id = first.get("sessionid") if isinstance(first, dict) else None
        session = ctx.state.claim_session(str(session_id), env.engine.now()) \
            if session_id else None
        if session is None:
            await websocket.send_text(dumps({"error": "invalid session"}))
            await websocket.close(code=1008)
            return
        connection = env.streams.open(session.account_id, order_encoder(ctx))
        try:
            await websocket.send_text(dumps({"event": "heartbeat", "status": "active",
                                             "timestamp": iso_ms(env.engine.now())}))
            # Client frames (a changed subscription, same session id) are ignored.
            await env.streams.pump(websocket, connection, path=STREAM_PATH, encode=dumps)
        finally:
            env.streams.close(connection)

    return router

