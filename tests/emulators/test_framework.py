"""The emulator framework on a toy broker: real sockets, faults, admin API, streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets
from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.responses import Response

from brokerlink.core.enums import BrokerType, OrderSide
from brokerlink.core.models import OrderRequest
from brokerlink.emulators import (
    EmulatorAuthError,
    EmulatorEnv,
    EmulatorServer,
    FaultInjector,
    FaultKind,
    FaultRule,
    create_emulator_app,
    json_response,
    receive_json,
)
from brokerlink.emulators.registry import available, names
from brokerlink.sim.calendar import MarketSession
from brokerlink.sim.events import SimEvent

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _toy_app(env: EmulatorEnv) -> FastAPI:
    router = APIRouter()

    def account(request: Request) -> str:
        return env.accounts.account_for_api_key(request.headers.get("key", ""),
                                                request.headers.get("secret", ""))

    @router.get("/balance")
    async def get_balance(request: Request) -> Response:
        return json_response({"cash": env.engine.balances(account(request)).cash})

    @router.post("/buy")
    async def place_order(request: Request) -> Response:
        order = env.engine.place_order(account(request), OrderRequest(
            symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(1)))
        return json_response({"id": order.order_id})

    def encode(event: SimEvent) -> Sequence[Any]:
        return [{"event": event.kind.value}] if event.order is not None else []

    @router.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        hello = await receive_json(websocket)
        connection = env.streams.open(
            env.accounts.account_for_api_key(hello["key"], hello["secret"]), encode)
        try:
            await websocket.send_text('{"ready":true}')
            await env.streams.pump(websocket, connection, path="/stream")
        finally:
            env.streams.close(connection)

    app = create_emulator_app(env, router, title="toy")

    @app.exception_handler(EmulatorAuthError)
    async def unauthorized(request: Request, exc: EmulatorAuthError) -> Response:
        return json_response({"message": "no"}, 401)

    return app


HEADERS = {"key": "TOYKEY01", "secret": "toysecret"}


@pytest.fixture
async def served() -> AsyncIterator[tuple[EmulatorEnv, EmulatorServer]]:
    env = EmulatorEnv.create(BrokerType.PAPER, start=START)
    async with EmulatorServer(_toy_app(env)) as server:
        yield env, server


def test_default_start_is_inside_a_session() -> None:
    env = EmulatorEnv.create(BrokerType.PAPER)
    assert env.engine.session() is MarketSession.REGULAR


def test_registry_lists_alpaca() -> None:
    assert "alpaca" in names()
    assert "alpaca" in available()


async def test_lenient_credentials_open_one_account_each(
        served: tuple[EmulatorEnv, EmulatorServer]) -> None:
    env, server = served
    async with httpx.AsyncClient(base_url=server.url) as client:
        first = await client.get("/balance", headers=HEADERS)
        again = await client.get("/balance", headers=HEADERS)
        wrong = await client.get("/balance", headers={**HEADERS, "secret": "different"})
    assert first.json() == again.json() == {"cash": "100000"}
    assert wrong.status_code == 401
    assert len(env.engine.account_ids()) == 1


def test_strict_credentials_and_bearer_lifecycle() -> None:
    env = EmulatorEnv.create(BrokerType.PAPER, start=START, strict=True)
    with pytest.raises(EmulatorAuthError):
        env.accounts.account_for_api_key("NEWKEY01", "whatever1")
    account = env.engine.open_account()
    key, secret = env.accounts.create_api_key(account)
    assert env.accounts.account_for_api_key(key, secret) == account
    token = env.accounts.mint_bearer(account, START + timedelta(minutes=5))
    assert env.accounts.account_for_bearer(token) == account
    env.advance(timedelta(minutes=5))
    with pytest.raises(EmulatorAuthError):
        env.accounts.account_for_bearer(token)
    env.accounts.revoke_bearer("revoked-token")
    lenient = EmulatorEnv.create(BrokerType.PAPER, start=START)
    lenient.accounts.revoke_bearer("revoked-token")
    with pytest.raises(EmulatorAuthError):
        lenient.accounts.account_for_bearer("revoked-token")
    assert "secret" not in repr(env.accounts)


async def test_admin_api_moves_the_market(served: tuple[EmulatorEnv, EmulatorServer]) -> None:
    _env, server = served
    async with httpx.AsyncClient(base_url=server.url) as client:
        clock = (await client.get("/_emulator/clock")).json()
        assert clock["is_open"] is True
        moved = (await client.post("/_emulator/clock/advance", json={"seconds": 90})).json()
        assert moved["now"].startswith("2026-11-23T15:01:30")
        priced = (await client.post("/_emulator/prices",
                                    json={"symbol": "AAPL", "price": "150.00"})).json()
        assert priced["last"] == "150"
        made = (await client.post("/_emulator/accounts",
                                  json={"cash": "2500", "bearer": True})).json()
        assert set(made) >= {"account_id", "api_key_id", "api_secret", "access_token"}
        funded = (await client.post(f"/_emulator/accounts/{made['account_id']}/fund",
                                    json={"amount": "500"})).json()
        assert funded["cash"] == "3000"
        bad = await client.post("/_emulator/clock/advance", json={"seconds": -1})
        assert bad.status_code == 400
        status = (await client.get("/_emulator/status")).json()
        assert status["accounts"] == [made["account_id"]]


async def test_error_and_rate_limit_faults(served: tuple[EmulatorEnv, EmulatorServer]) -> None:
    env, server = served
    env.faults.default_bodies[429] = {"message": "slow down"}
    async with httpx.AsyncClient(base_url=server.url) as client:
        await client.post("/_emulator/faults", json={
            "kind": "error", "operation": "get_balance", "status": 503, "count": 1,
            "body": {"message": "down"}})
        env.faults.add(FaultRule(FaultKind.RATE_LIMIT, method="GET", path="/bal*", count=1,
                                 retry_after=2))
        first = await client.get("/balance", headers=HEADERS)
        second = await client.get("/balance", headers=HEADERS)
        third = await client.get("/balance", headers=HEADERS)
    assert (first.status_code, first.json()) == (503, {"message": "down"})
    assert (second.status_code, second.headers["retry-after"]) == (429, "2")
    assert second.json() == {"message": "slow down"}
    assert third.status_code == 200


async def test_reset_closes_the_connection_without_running_the_handler(
        served: tuple[EmulatorEnv, EmulatorServer]) -> None:
    env, server = served
    env.faults.add(FaultRule(FaultKind.RESET, operation="place_order", count=1))
    async with httpx.AsyncClient(base_url=server.url) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/buy", headers=HEADERS)
        assert env.engine.account_ids() == []
        ok = await client.post("/buy", headers=HEADERS)
    assert ok.status_code == 200


async def test_accept_then_drop_runs_the_handler(
        served: tuple[EmulatorEnv, EmulatorServer]) -> None:
    env, server = served
    env.faults.add(FaultRule(FaultKind.DROP_AFTER, method="POST", path="/buy"))
    async with httpx.AsyncClient(base_url=server.url) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/buy", headers=HEADERS)
    (account,) = env.engine.account_ids()
    assert len(env.engine.orders(account)) == 1


async def test_stream_delivers_events_and_drops_on_fault(
        served: tuple[EmulatorEnv, EmulatorServer]) -> None:
    env, server = served
    env.faults.add(FaultRule(FaultKind.STREAM_DROP, path="/stream", after_messages=2))
    async with websockets.connect(server.ws_url + "/stream") as ws:
        await ws.send('{"key": "TOYKEY01", "secret": "toysecret"}')
        assert await ws.recv() == '{"ready":true}'
        async with httpx.AsyncClient(base_url=server.url) as client:
            await client.post("/buy", headers=HEADERS)
            await client.post("/buy", headers=HEADERS)
        received = [await ws.recv(), await ws.recv()]
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert received == ['{"event":"new"}', '{"event":"fill"}']


def test_run_in_thread_serves_synchronous_clients() -> None:
    env = EmulatorEnv.create(BrokerType.PAPER, start=START)
    with EmulatorServer.run_in_thread(_toy_app(env)) as server:
        response = httpx.get(server.url + "/_emulator/clock")
    assert response.json()["session"] == "regular"


def test_fault_dice_are_seeded() -> None:
    def rolls(seed: int) -> list[bool]:
        injector = FaultInjector(seed=seed)
        injector.add(FaultRule(FaultKind.ERROR, path="/x", probability=0.5))
        return [injector.decide("GET", "/x", None).rule is not None for _ in range(40)]

    assert rolls(3) == rolls(3)
    assert rolls(3) != rolls(4)
    assert 0 < sum(rolls(3)) < 40


def test_fault_count_limits_and_matching() -> None:
    injector = FaultInjector()
    rule_id = injector.add(FaultRule(FaultKind.ERROR, method="POST", operation="place_order",
                                     count=2))
    assert injector.decide("GET", "/v2/orders", "place_order").rule is None
    fired = [injector.decide("POST", "/v2/orders", "place_order").rule for _ in range(3)]
    assert [r is not None for r in fired] == [True, True, False]
    assert injector.describe()[0]["fired"] == 2
    assert injector.remove(rule_id)
    with pytest.raises(ValueError, match="probability"):
        FaultRule(FaultKind.ERROR, probability=2)
