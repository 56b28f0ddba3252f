"""The Tradier emulator on a loopback socket, spoken to with plain HTTP (never the
adapter): its answers are checked against the reference payloads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.server import EmulatorServer
from brokerlink.emulators.tradier.app import create_app
from brokerlink.emulators.tradier.context import TradierContext
from tests.contract.harness import SESSION_START

TOKEN = "emulator-test-token-1"


def body(response: httpx.Response) -> Any:
    """JSON with fractional numbers as Decimal, as Tradier clients must read it."""
    return json.loads(response.content, parse_float=Decimal)


@dataclass
class Api:
    env: EmulatorEnv
    server: EmulatorServer
    http: httpx.AsyncClient
    account_id: str

    @property
    def tradier(self) -> TradierContext:
        ctx: TradierContext = self.server.app.state.tradier
        return ctx

    async def get(self, path: str, **params: str) -> Any:
        response = await self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return body(response)

    async def place(self, **form: str) -> httpx.Response:
        return await self.http.post(f"/accounts/{self.account_id}/orders", data=form)

    async def buy(self, symbol: str, quantity: int = 1) -> int:
        response = await self.place(**{"class": "equity"}, symbol=symbol, side="buy",
                                    quantity=str(quantity), type="market", duration="day")
        order_id: int = body(response)["order"]["id"]
        return order_id


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    env = EmulatorEnv.create(BrokerType.TRADIER, seed=3, start=SESSION_START)
    async with EmulatorServer(create_app(env)) as server, httpx.AsyncClient(
            base_url=f"{server.url}/v1",
            headers={"Authorization": f"Bearer {TOKEN}",
                     "Accept": "application/json"}) as http:
        profile = body(await http.get("/user/profile"))
        yield Api(env, server, http, profile["profile"]["account"]["account_number"])
