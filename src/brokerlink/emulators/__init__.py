"""Local emulators of broker APIs, serving each broker's wire format from ``sim/``.

An emulator is a FastAPI app on a ``SimEngine`` that speaks one broker's REST (and
websocket) API exactly, so an adapter can be tested over real loopback sockets. It
never imports ``brokerlink.adapters``: both sides meet only on the wire, and emulators
are checked against the broker's published specs in ``../shared/specs``.

Framework (``brokerlink.emulators._shared``), all re-exported here:

``EmulatorEnv`` (``_shared/env.py``)
    ``engine``, ``broker``, ``faults``, ``accounts``, ``streams``, ``strict``,
    ``follow_wall_clock``. Build with ``EmulatorEnv.create(broker, *, seed=7,
    strict=False, start=None, market="exchange", follow_wall_clock=False)``; the engine
    queues orders while closed and starts at 10:00 New York on a trading day. Move time
    with ``env.advance(timedelta)`` / ``env.set_clock(datetime)``.
``CredentialDirectory`` / ``EmulatorAuthError`` (``_shared/credentials.py``)
    ``account_for_api_key(key_id, secret)``, ``account_for_bearer(token)``,
    ``register_bearer(token, account_id, expires_at)``, ``revoke_bearer(token)``,
    ``create_api_key(account_id) -> (key_id, secret)``, ``mint_bearer(account_id,
    expires_at=None) -> token``. Lenient by default (new credentials open a funded
    account), strict accepts only issued ones. Raises ``EmulatorAuthError`` which each
    broker app turns into its own 401 body.
``FaultInjector`` / ``FaultRule`` / ``FaultKind`` (``_shared/faults.py``)
    Seeded per-endpoint faults: latency, error (5xx), rate_limit (429 + Retry-After),
    reset (TCP close, no response), drop_after (handler runs, then TCP close),
    stream_drop (websocket closed after N messages), stream_skip (a stream message
    silently left out, the websocket stays open), late_placement (the write is read,
    held ``delay`` seconds past the client's timeout, then placed), malformed_ack (the
    write is placed, its 2xx body replaced by a ``MalformedBody``).
    ``env.faults.add(FaultRule(...))`` or ``POST /_emulator/faults``;
    ``GET /_emulator/faults`` says how often each rule ``fired``;
    ``POST /_emulator/faults/{id}/release`` / ``wait`` settle held placements.
    Brokers set ``env.faults.default_bodies[status]``.
``StreamHub`` (``_shared/streams.py``)
    ``env.streams.open(account_id, encoder) -> StreamConnection``,
    ``await env.streams.pump(websocket, connection, path=..., binary=...,
    on_client_message=...)``, ``env.streams.close(connection)``; helpers
    ``send_message`` and ``receive_json``.
``create_emulator_app(env, *routers, title) -> FastAPI`` (``_shared/app.py``)
    Mounts the broker routers, the admin API (``/_emulator``, see ``_shared/admin.py``),
    the fault middleware and the clock middleware (wall-clock following, and a ``Date``
    response header from the *engine's* clock); ``app.state.env`` is ``env``. Operation
    names for fault rules are the route endpoints' function names.
``EmulatorServer`` (``_shared/server.py``)
    ``async with EmulatorServer(app) as s: s.url / s.ws_url`` or
    ``with EmulatorServer.run_in_thread(app) as s: ...``: real uvicorn on 127.0.0.1.
``json_response`` / ``read_json`` / ``rfc3339`` / ``to_jsonable`` (``_shared/jsonio.py``)
    JSON with decimals as strings in, Decimal-parsed bodies out.

``EmulatorSpec`` (``_shared/spec.py``)
    What each broker package exports as ``EMULATOR``: broker type, lazy app factory,
    OAuth server config, rate-limit policy, error shape, fault bodies.

Per-broker packages (``emulators/<broker>/``) export ``EMULATOR`` from ``__init__.py``
(importing nothing heavy); its ``create_app`` builds ``app.py``'s ``create_app(env=None,
*, strict=False, seed=7, follow_wall_clock=False) -> FastAPI``. ``emulators/registry.py``
discovers them; ``docs/adding-a-broker.md`` lists the files each package holds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brokerlink.emulators._shared.app import create_emulator_app, env_of
    from brokerlink.emulators._shared.credentials import CredentialDirectory, EmulatorAuthError
    from brokerlink.emulators._shared.env import EmulatorEnv, default_start
    from brokerlink.emulators._shared.faults import (
        FaultInjector,
        FaultKind,
        FaultMiddleware,
        FaultRule,
        MalformedBody,
    )
    from brokerlink.emulators._shared.jsonio import (
        BodyError,
        json_response,
        read_json,
        rfc3339,
        to_jsonable,
    )
    from brokerlink.emulators._shared.server import EmulatorServer
    from brokerlink.emulators._shared.spec import EmulatorSpec
    from brokerlink.emulators._shared.streams import (
        StreamConnection,
        StreamHub,
        receive_json,
        send_message,
    )

# Lazy: importing ``brokerlink.emulators`` (which every broker's light ``EMULATOR`` spec
# does, and the registry's discovery with it) must not load fastapi and uvicorn.
_EXPORTS: dict[str, str] = {
    "create_emulator_app": "app", "env_of": "app",
    "CredentialDirectory": "credentials", "EmulatorAuthError": "credentials",
    "EmulatorEnv": "env", "default_start": "env",
    "FaultInjector": "faults", "FaultKind": "faults", "FaultMiddleware": "faults",
    "FaultRule": "faults", "MalformedBody": "faults",
    "BodyError": "jsonio", "json_response": "jsonio", "read_json": "jsonio",
    "rfc3339": "jsonio", "to_jsonable": "jsonio",
    "EmulatorServer": "server", "EmulatorSpec": "spec",
    "StreamConnection": "streams", "StreamHub": "streams", "receive_json": "streams",
    "send_message": "streams",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}._shared.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BodyError",
    "CredentialDirectory",
    "EmulatorAuthError",
    "EmulatorEnv",
    "EmulatorServer",
    "EmulatorSpec",
    "FaultInjector",
    "FaultKind",
    "FaultMiddleware",
    "FaultRule",
    "MalformedBody",
    "StreamConnection",
    "StreamHub",
    "create_emulator_app",
    "default_start",
    "env_of",
    "json_response",
    "read_json",
    "receive_json",
    "rfc3339",
    "send_message",
    "to_jsonable",
]
