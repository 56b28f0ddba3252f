"""The ``trade_updates`` websocket at ``/stream`` (``REFERENCE.md`` section 8).

1. client ``{"action": "authenticate", "data": {"key_id", "secret_key"}}`` (or
   ``{"oauth_token"}``) -> ``{"stream": "authorization", "data": {"status":
   "authorized"|"unauthorized", "action": "authenticate"}}`` (closed when refused);
2. client ``{"action": "listen", "data": {"streams": ["trade_updates"]}}`` ->
   ``{"stream": "listening", "data": {"streams": ["trade_updates"]}}``;
3. server pushes ``{"stream": "trade_updates", "data": {"event", "timestamp", "order",
   ["execution_id", "price", "qty", "position_qty"]}}``.

Frames are binary (JSON inside), like Alpaca's paper endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, WebSocket

from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.jsonio import BodyError, loads
from brokerlink.emulators._shared.streams import receive_json, send_message
from brokerlink.emulators.alpaca.context import AlpacaContext
from brokerlink.emulators.alpaca.serialize import trade_update_json
from brokerlink.sim.events import SimEvent

STREAM_PATH = "/stream"
STREAMS = ("trade_updates",)


def _authorization(status: str) -> dict[str, Any]:
    return {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}


def _listening(message: Any) -> dict[str, Any] | None:
    if not isinstance(message, dict) or message.get("action") != "listen":
        return None
    data = message.get("data") or {}
    wanted = data.get("streams") if isinstance(data, dict) else None
    streams = [s for s in (wanted or []) if s in STREAMS]
    return {"stream": "listening", "data": {"streams": streams}}


def stream_router(ctx: AlpacaContext) -> APIRouter:
    router = APIRouter()
    env = ctx.env

    def account_from(message: Any) -> str:
        if not isinstance(message, dict) or message.get("action") not in ("authenticate",
                                                                         "auth"):
            raise EmulatorAuthError("expected an authenticate message")
        data = message.get("data") or {}
        if not isinstance(data, dict):
            raise EmulatorAuthError("bad authenticate message")
        if data.get("oauth_token"):
            return env.accounts.account_for_bearer(str(data["oauth_token"]))
        return env.accounts.account_for_api_key(str(data.get("key_id") or ""),
                                                str(data.get("secret_key") or ""))

    def encode(event: SimEvent) -> Sequence[Any]:
        queued = event.order is not None and ctx.is_queued(event.order)
        message = trade_update_json(event, accepted=queued)
        return [message] if message is not None else []

    @router.websocket(STREAM_PATH)
    async def trade_updates(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            account_id = account_from(await receive_json(websocket))
        except EmulatorAuthError:
            await send_message(websocket, _authorization("unauthorized"), binary=True)
            await websocket.close(code=1008)
            return
        await send_message(websocket, _authorization("authorized"), binary=True)
        reply = None
        while reply is None:
            message = await receive_json(websocket)
            if message is None:
                return
            reply = _listening(message)
        connection = env.streams.open(account_id, encode)
        try:
            await send_message(websocket, reply, binary=True)

            def on_message(text: str) -> Sequence[Any]:
                try:
                    again = _listening(loads(text))
                except BodyError:
                    return []
                return [again] if again is not None else []

            await env.streams.pump(websocket, connection, path=STREAM_PATH, binary=True,
                                   on_client_message=on_message)
        finally:
            env.streams.close(connection)

    return router
