"""Emulators on real loopback sockets with connected brokers, for the sync engine.

``Market`` drives the emulator through its admin API (prices, funding, faults). Every
fill a test causes is marked on the sync engine's latency tracker just before the call
that causes it (see ``brokerlink.manager.latency``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.adapters.tradier import TradierBroker
from brokerlink.core.enums import BrokerType
from brokerlink.core.interface import BrokerInterface
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.alpaca.app import create_env as alpaca_env
from brokerlink.emulators.tradier.app import create_app as tradier_app
from tests.contract.harness import SESSION_START
from tests.contract.harness_alpaca import fast_retries


@dataclass
class Market:
    """One emulator, its admin API and a broker connected to one funded account."""

    admin: httpx.AsyncClient
    broker: BrokerInterface
    account_id: str
    connection_id: str

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.admin.request(method, f"/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def set_price(self, symbol: str, price: Decimal | str) -> None:
        await self.call("POST", "/prices", {"symbol": symbol, "price": str(price)})

    async def fund(self, amount: Decimal | str) -> None:
        await self.call("POST", f"/accounts/{self.account_id}/fund", {"amount": str(amount)})

    async def fault(self, **rule: Any) -> None:
        await self.call("POST", "/faults", rule)


@pytest.fixture
async def alpaca() -> AsyncIterator[Market]:
    env = alpaca_env(seed=11, start=SESSION_START)
    async with EmulatorServer(alpaca_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts", json={"cash": "100000"})).json()
        broker = AlpacaBroker(AlpacaAuth(key_id=made["api_key_id"],
                                         secret_key=made["api_secret"]),
                              config=AlpacaConfig.emulator(server.url), retry=fast_retries(),
                              connection_id="conn-alpaca")
        async with broker:
            yield Market(admin, broker, made["account_id"], "conn-alpaca")


@pytest.fixture
async def tradier() -> AsyncIterator[Market]:
    env = EmulatorEnv.create(BrokerType.TRADIER, seed=11, start=SESSION_START)
    async with EmulatorServer(tradier_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts",
                                 json={"cash": "100000", "bearer": True})).json()
        broker = TradierBroker(access_token=made["access_token"],
                               account_id=made["account_id"], base_url=server.url,
                               connection_id="conn-tradier")
        async with broker:
            yield Market(admin, broker, made["account_id"], "conn-tradier")
