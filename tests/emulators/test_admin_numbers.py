"""Issue 19 item 7 on the emulators' admin API, over a real loopback socket: numbers
(clock advance, prices, cash, deposits, fault waits) follow the core Decimal policy.
Garbage is a 400 ``{"error": ...}`` naming the field, never a 500 (``1e400`` seconds
overflowed ``timedelta``; a ``1e400`` price raised ``decimal.InvalidOperation``) and
never read as something else (Arabic-Indic ``١٢`` was 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from brokerlink.core.enums import BrokerType
from brokerlink.emulators import EmulatorEnv, EmulatorServer
from brokerlink.emulators.alpaca.app import create_app

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ARABIC_12 = "\u0661\u0662"
GARBAGE = ["1e400", "1E+999999", ARABIC_12, "nan", "1e-400", True, [1]]


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    env = EmulatorEnv.create(BrokerType.ALPACA, start=START)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=f"{server.url}/_emulator") as http:
        yield http


def _assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]


@pytest.mark.parametrize("value", GARBAGE, ids=repr)
async def test_garbage_numbers_are_refused(admin: httpx.AsyncClient, value: object) -> None:
    before = (await admin.get("/clock")).json()["now"]
    _assert_refused(await admin.post("/clock/advance", json={"seconds": value}), "seconds")
    assert (await admin.get("/clock")).json()["now"] == before
    quote = (await admin.get("/quotes/AAPL")).json()
    _assert_refused(await admin.post("/prices", json={"symbol": "AAPL", "price": value}),
                    "price")
    assert (await admin.get("/quotes/AAPL")).json()["last"] == quote["last"]
    _assert_refused(await admin.post("/accounts", json={"cash": value}), "cash")
    account = (await admin.post("/accounts", json={"cash": "1000"})).json()["account_id"]
    _assert_refused(await admin.post(f"/accounts/{account}/fund", json={"amount": value}),
                    "amount")


async def test_numbers_beyond_the_admin_bounds_are_refused(admin: httpx.AsyncClient) -> None:
    _assert_refused(await admin.post("/clock/advance", json={"seconds": "1e15"}), "seconds")
    _assert_refused(await admin.post("/prices", json={"symbol": "AAPL", "price": "1e12"}),
                    "price")
    _assert_refused(await admin.post("/prices", json={"symbol": "AAPL", "price": "0"}),
                    "price")


async def test_valid_numbers_still_work(admin: httpx.AsyncClient) -> None:
    moved = await admin.post("/clock/advance", json={"seconds": "90"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["now"].startswith("2026-11-23T15:01:30")
    priced = await admin.post("/prices", json={"symbol": "AAPL", "price": "150.25"})
    assert priced.status_code == 200, priced.text
    assert priced.json()["last"] == "150.25"
    opened = await admin.post("/accounts", json={"cash": 2500})
    assert opened.status_code == 200, opened.text
    funded = await admin.post(f"/accounts/{opened.json()['account_id']}/fund",
                              json={"amount": "500.5"})
    assert funded.json()["cash"] == "3000.5"
