"""Tradier account streaming: ``POST /v1/accounts/events/session`` then the websocket
``/v1/accounts/events``, where the client sends ``{"events": ["order"], "sessionid": ...}``
and receives one JSON order message per frame (REFERENCE.md section 7).

Messages are written by this emulator's own encoder (numbers as JSON numbers), so the
websocket loop here sends them itself; it still honours the injector's stream faults
(``stream_drop`` and ``stream_skip``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response
from starlette.websockets import WebSocketDisconnect

from brokerlink.emulators._shared.faults import FaultKind
from brokerlink.emulators._shared.streams import (
    STREAM_DROP_CODE,
    StreamConnection,
    cancel_pending,
)
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
            await _pump(ctx, websocket, connection)
        finally:
            env.streams.close(connection)

    return router


async def _pump(ctx: TradierContext, websocket: WebSocket,
                connection: StreamConnection) -> None:
    """Send queued messages until the client leaves or a stream drop fires. Client
    frames (a changed subscription with the same session id) are read and ignored."""
    reader = asyncio.ensure_future(websocket.receive())
    # One pending ``get`` at a time, kept across client frames: cancelling it when both
    # finish together would lose a message nobody asked to lose.
    getter: asyncio.Future[Any] | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.ensure_future(connection.queue.get())
            done, _ = await asyncio.wait({getter, reader},
                                         return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                if reader.result()["type"] == "websocket.disconnect":
                    return
                reader = asyncio.ensure_future(websocket.receive())
            if getter not in done:
                continue
            message, getter = getter.result(), None
            fault = ctx.env.faults.stream_fault(STREAM_PATH, connection.sent)
            if fault is FaultKind.STREAM_DROP:
                await websocket.close(code=STREAM_DROP_CODE)
                return
            if fault is None:
                await websocket.send_text(dumps(message))
                connection.sent += 1
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        await cancel_pending(reader, getter)
