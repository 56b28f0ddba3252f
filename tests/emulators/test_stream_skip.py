"""``stream_skip``: a stream message silently left out while the websocket stays open.

Checked on both emulator streams (Alpaca ``trade_updates``, Tradier account events)
over real sockets with plain websockets, the rule installed through the admin API:
the chosen message never arrives, the socket is still open afterwards, later messages
arrive, and the rule's ``fired`` counter says what happened.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from brokerlink.core.enums import BrokerType
from brokerlink.emulators import EmulatorEnv, EmulatorServer, FaultInjector, FaultKind, FaultRule
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.alpaca.app import create_env as alpaca_env
from brokerlink.emulators.tradier.app import create_app as tradier_app
from tests.contract.harness import SESSION_START

WAIT = 5.0


async def _recv(socket: websockets.ClientConnection) -> Any:
    async with asyncio.timeout(WAIT):
        return json.loads(await socket.recv())


async def _faults(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await admin.get("/_emulator/faults")
    response.raise_for_status()
    faults: list[dict[str, Any]] = response.json()["faults"]
    return faults


@pytest.fixture
async def alpaca() -> AsyncIterator[tuple[EmulatorServer, httpx.AsyncClient, dict[str, str]]]:
    async with EmulatorServer(alpaca_app(alpaca_env(seed=3, start=SESSION_START))) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts", json={"cash": "100000"})).json()
        yield server, admin, made


async def test_alpaca_trade_updates_skip_one_message_and_stay_open(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient, dict[str, str]]) -> None:
    server, admin, made = alpaca
    headers = {"APCA-API-KEY-ID": made["api_key_id"], "APCA-API-SECRET-KEY": made["api_secret"]}
    # The first order's "new" goes through; its "fill" is the one left out.
    rule = {"kind": "stream_skip", "path": "/stream", "after_messages": 1, "count": 1}
    (await admin.post("/_emulator/faults", json=rule)).raise_for_status()

    async def buy(symbol: str) -> str:
        response = await admin.post("/v2/orders", headers=headers, json={
            "symbol": symbol, "qty": "1", "side": "buy", "type": "market",
            "time_in_force": "day"})
        response.raise_for_status()
        order_id: str = response.json()["id"]
        return order_id

    async with websockets.connect(server.ws_url + "/stream") as socket:
        await socket.send(json.dumps({"action": "authenticate", "data": {
            "key_id": made["api_key_id"], "secret_key": made["api_secret"]}}))
        assert (await _recv(socket))["data"]["status"] == "authorized"
        await socket.send(json.dumps({"action": "listen",
                                      "data": {"streams": ["trade_updates"]}}))
        assert (await _recv(socket))["stream"] == "listening"

        first = await buy("AAPL")
        second = await buy("MSFT")
        # Messages go out in order, so the second order's arriving right after the
        # first's "new" proves the first's "fill" was left out, not just late.
        updates = [(await _recv(socket))["data"] for _ in range(3)]
        assert [(u["order"]["id"], u["event"]) for u in updates] == [
            (first, "new"), (second, "new"), (second, "fill")]
        # Still open, and still answering: the client saw no disconnect of any kind.
        await socket.send(json.dumps({"action": "listen",
                                      "data": {"streams": ["trade_updates"]}}))
        assert (await _recv(socket))["stream"] == "listening"
        assert (await admin.get("/_emulator/status")).json()["streams"] == 1
    (installed,) = await _faults(admin)
    assert (installed["kind"], installed["fired"]) == ("stream_skip", 1)
    # The order whose fill was skipped did fill: only the message is missing.
    orders = (await admin.get(f"/_emulator/accounts/{made['account_id']}/orders")).json()
    assert {o["order_id"]: o["status"] for o in orders["orders"]}[first] == "filled"


async def test_tradier_account_events_skip_one_message_and_stay_open() -> None:
    env = EmulatorEnv.create(BrokerType.TRADIER, seed=3, start=SESSION_START)
    async with EmulatorServer(tradier_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts",
                                 json={"cash": "100000", "bearer": True})).json()
        api = httpx.AsyncClient(base_url=server.url + "/v1", headers={
            "Authorization": f"Bearer {made['access_token']}", "Accept": "application/json"})
        async with api:
            rule = {"kind": "stream_skip", "path": "/v1/accounts/events",
                    "after_messages": 1, "count": 1}
            (await admin.post("/_emulator/faults", json=rule)).raise_for_status()

            async def buy(symbol: str) -> int:
                response = await api.post(f"/accounts/{made['account_id']}/orders", data={
                    "class": "equity", "symbol": symbol, "side": "buy", "quantity": "1",
                    "type": "market", "duration": "day"})
                response.raise_for_status()
                order_id: int = response.json()["order"]["id"]
                return order_id

            stream = (await api.post("/accounts/events/session")).json()["stream"]
            async with websockets.connect(stream["url"]) as socket:
                subscribe = json.dumps({"events": ["order"], "sessionid": stream["sessionid"]})
                await socket.send(subscribe)
                assert (await _recv(socket))["event"] == "heartbeat"

                first = await buy("AAPL")
                # In order: the second order's messages right after the first's "open"
                # prove the first's "filled" was left out, not just late.
                second = await buy("MSFT")
                messages = [await _recv(socket) for _ in range(3)]
                assert [(m["id"], m["status"]) for m in messages] == [
                    (first, "open"), (second, "open"), (second, "filled")]
                # A changed subscription on the same socket is read and ignored: the
                # socket is still open, and the next order's messages all arrive.
                await socket.send(subscribe)
                third = await buy("KO")
                later = [await _recv(socket) for _ in range(2)]
                assert [(m["id"], m["status"]) for m in later] == [(third, "open"),
                                                                   (third, "filled")]
                assert (await admin.get("/_emulator/status")).json()["streams"] == 1
        (installed,) = await _faults(admin)
    assert (installed["kind"], installed["fired"]) == ("stream_skip", 1)


def test_skip_dice_are_seeded_counted_and_never_touch_http() -> None:
    def skips(seed: int) -> list[bool]:
        injector = FaultInjector(seed=seed)
        injector.add(FaultRule(FaultKind.STREAM_SKIP, path="/stream", probability=0.3))
        return [injector.stream_fault("/stream", sent) is FaultKind.STREAM_SKIP
                for sent in range(60)]

    assert skips(3) == skips(3)
    assert skips(3) != skips(4)
    assert 0 < sum(skips(3)) < 60

    injector = FaultInjector()
    injector.add(FaultRule(FaultKind.STREAM_SKIP, probability=1.0, count=2))
    # A stream rule never fires on an HTTP request, even one on a matching path.
    assert injector.decide("GET", "/stream", None).rule is None
    faults = [injector.stream_fault(path, 0) for path in ("/stream", "/other", "/stream")]
    assert faults == [FaultKind.STREAM_SKIP, FaultKind.STREAM_SKIP, None]
    assert injector.describe()[0]["fired"] == 2


def test_a_drop_rule_wins_over_a_skip_rule() -> None:
    injector = FaultInjector()
    injector.add(FaultRule(FaultKind.STREAM_SKIP, path="/stream"))
    injector.add(FaultRule(FaultKind.STREAM_DROP, path="/stream", after_messages=3))
    assert injector.stream_fault("/stream", 2) is FaultKind.STREAM_SKIP
    assert injector.stream_fault("/stream", 3) is FaultKind.STREAM_DROP
    assert injector.stream_fault("/elsewhere", 3) is None


def test_the_admin_json_builds_a_skip_rule() -> None:
    rule = FaultRule.from_json({"kind": "stream_skip", "probability": "0.25", "count": 5})
    assert (rule.kind, rule.probability, rule.count) == (FaultKind.STREAM_SKIP, 0.25, 5)
