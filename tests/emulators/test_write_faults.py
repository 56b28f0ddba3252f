"""The write faults Issue 19 needs, over real loopback sockets on both emulators:
``late_placement`` (the order is placed after the client gave up) and ``malformed_ack``
(the order is placed, its 2xx answer is unreadable)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from brokerlink.core.enums import BrokerType
from brokerlink.emulators import EmulatorEnv, EmulatorServer, MalformedBody
from brokerlink.emulators.alpaca.app import ALPACA_FEES
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
KEYS = {"APCA-API-KEY-ID": "PKFAULTTEST1", "APCA-API-SECRET-KEY": "fault-secret-0001"}
TRADIER = {"Authorization": "Bearer fault-test-token-1", "Accept": "application/json"}
CLIENT_TIMEOUT = 0.3


@pytest.fixture
async def alpaca() -> AsyncIterator[tuple[EmulatorServer, httpx.AsyncClient]]:
    env = EmulatorEnv.create(BrokerType.ALPACA, start=START, fees=ALPACA_FEES)
    async with EmulatorServer(alpaca_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url, headers=KEYS) as http:
        yield server, http


def _order(client_order_id: str) -> dict[str, Any]:
    return {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
            "time_in_force": "day", "client_order_id": client_order_id}


async def _add_fault(http: httpx.AsyncClient, **rule: Any) -> str:
    response = await http.post("/_emulator/faults", json=rule)
    assert response.status_code == 200, response.text
    rule_id: str = response.json()["id"]
    return rule_id


async def _by_client_id(http: httpx.AsyncClient, client_order_id: str) -> httpx.Response:
    return await http.get("/v2/orders:by_client_order_id",
                          params={"client_order_id": client_order_id})


async def test_late_placement_places_after_the_client_gave_up(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient]) -> None:
    _, http = alpaca
    # A long hold, ended by the admin API: the test never races the clock.
    rule_id = await _add_fault(http, kind="late_placement", delay=60, count=1)
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/v2/orders", json=_order("late-1"), timeout=CLIENT_TIMEOUT)
    # The client gave up; the broker has not placed it (yet): a lookup finds nothing.
    assert (await _by_client_id(http, "late-1")).status_code == 404
    held = (await http.get("/_emulator/faults")).json()["faults"][0]
    assert (held["held"], held["placed"]) == (1, 0)

    released = (await http.post(f"/_emulator/faults/{rule_id}/release", json={})).json()
    assert released == {"id": rule_id, "settled": True, "held": 0, "placed": 1,
                        "released": 1}
    found = await _by_client_id(http, "late-1")
    assert found.status_code == 200
    assert found.json()["status"] == "filled"
    # count=1: the next order goes through at once.
    assert (await http.post("/v2/orders", json=_order("late-2"))).status_code == 200


async def test_late_placement_places_after_its_delay_on_its_own(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient]) -> None:
    _, http = alpaca
    rule_id = await _add_fault(http, kind="late_placement", delay=0.6)
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/v2/orders", json=_order("late-own"), timeout=CLIENT_TIMEOUT)
    waited = (await http.post(f"/_emulator/faults/{rule_id}/wait",
                              json={"within": 10})).json()
    assert (waited["settled"], waited["placed"]) == (True, 1)
    assert (await _by_client_id(http, "late-own")).status_code == 200


async def test_late_placement_leaves_reads_alone_and_answers_a_patient_client(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient]) -> None:
    _, http = alpaca
    await _add_fault(http, kind="late_placement", delay=0.2)
    assert (await http.get("/v2/account", timeout=CLIENT_TIMEOUT / 2)).status_code == 200
    patient = await http.post("/v2/orders", json=_order("patient"), timeout=10)
    assert patient.status_code == 200
    assert patient.json()["client_order_id"] == "patient"


@pytest.mark.parametrize("kind", list(MalformedBody))
async def test_malformed_ack_places_the_order_and_garbles_the_answer(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient], kind: MalformedBody) -> None:
    _, http = alpaca
    await _add_fault(http, kind="malformed_ack", malformed=kind.value,
                     operation="place_order", count=1)
    answer = await http.post("/v2/orders", json=_order(f"bad-{kind.value}"))
    assert answer.status_code == 200
    assert answer.headers["content-length"] == str(len(answer.content))
    if kind is MalformedBody.HTML:
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.content.startswith(b"<!doctype html>")
    elif kind is MalformedBody.DEEP_JSON:
        with pytest.raises(RecursionError):
            json.loads(answer.content)
    elif kind in (MalformedBody.TRUNCATED, MalformedBody.EMPTY):
        with pytest.raises(json.JSONDecodeError):
            json.loads(answer.content)
    else:
        assert json.loads(answer.content) == {MalformedBody.EMPTY_OBJECT: {},
                                              MalformedBody.NULL: None,
                                              MalformedBody.LIST: []}[kind]
    # The write took effect: the order is there, and the next answer is sound again.
    found = await _by_client_id(http, f"bad-{kind.value}")
    assert found.status_code == 200
    assert found.json()["symbol"] == "AAPL"


async def test_malformed_ack_with_a_chosen_body_and_non_2xx_untouched(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient]) -> None:
    _, http = alpaca
    await _add_fault(http, kind="malformed_ack", body='{"id": 12', operation="place_order")
    assert (await http.post("/v2/orders", json=_order("chosen"))).content == b'{"id": 12'
    # A refusal (duplicate client_order_id) is not an acknowledgement: sent as it is.
    refused = await http.post("/v2/orders", json=_order("chosen"))
    assert refused.status_code == 422
    assert refused.json()["message"] == "client_order_id must be unique"


async def test_alpaca_refuses_a_duplicate_client_order_id(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient]) -> None:
    _, http = alpaca
    assert (await http.post("/v2/orders", json=_order("once"))).status_code == 200
    again = await http.post("/v2/orders", json=_order("once"))
    assert again.status_code == 422
    assert again.json() == {"code": 40010001, "message": "client_order_id must be unique"}
    orders = (await http.get("/v2/orders", params={"status": "all"})).json()
    assert sum(o["client_order_id"] == "once" for o in orders) == 1


async def test_tradier_late_placement_and_malformed_ack() -> None:
    env = EmulatorEnv.create(BrokerType.TRADIER, start=START)
    async with EmulatorServer(tradier_app(env)) as server, httpx.AsyncClient(
            base_url=server.url, headers=TRADIER) as http:
        account = (await http.get("/v1/user/profile")).json()["profile"]["account"]
        orders_path = f"/v1/accounts/{account['account_number']}/orders"
        form = {"class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "1",
                "type": "market", "duration": "day", "tag": "late-tradier"}
        rule_id = await _add_fault(http, kind="late_placement", delay=60, count=1)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(orders_path, data=form, timeout=CLIENT_TIMEOUT)
        tagged = {"includeTags": "true"}
        assert (await http.get(orders_path, params=tagged)).json()["orders"] == "null"
        released = (await http.post(f"/_emulator/faults/{rule_id}/release")).json()
        assert released["placed"] == 1
        listed = (await http.get(orders_path, params=tagged)).json()["orders"]["order"]
        assert listed["tag"] == "late-tradier"

        await _add_fault(http, kind="malformed_ack", malformed="deep_json", count=1)
        garbled = await http.post(orders_path, data={**form, "tag": "garbled"})
        assert garbled.status_code == 200
        with pytest.raises(RecursionError):
            json.loads(garbled.content)
        listed = (await http.get(orders_path, params=tagged)).json()["orders"]["order"]
        tags = [o["tag"] for o in listed]
        assert tags == ["late-tradier", "garbled"]


async def test_fault_admin_refuses_bad_rules_and_unknown_ids(
        alpaca: tuple[EmulatorServer, httpx.AsyncClient]) -> None:
    _, http = alpaca
    for bad in ({"kind": "late_placement", "delay": -1},
                {"kind": "malformed_ack", "malformed": "poetry"},
                {"kind": "malformed_ack", "depth": 0},
                {"kind": "late_placement", "nonsense": 1}):
        assert (await http.post("/_emulator/faults", json=bad)).status_code == 400, bad
    assert (await http.post("/_emulator/faults/fault-99/release")).status_code == 404
    assert (await http.post("/_emulator/faults/fault-99/wait")).status_code == 404
    assert (await http.delete("/_emulator/faults/fault-99")).status_code == 404
    rule_id = await _add_fault(http, kind="late_placement")
    assert (await http.post(f"/_emulator/faults/{rule_id}/wait",
                            json={"within": 1e9})).status_code == 400
    assert (await http.delete(f"/_emulator/faults/{rule_id}")).status_code == 200
    assert (await http.get("/_emulator/faults")).json()["faults"] == []
