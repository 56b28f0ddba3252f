"""A Tradier emulator on a real loopback socket and a connected ``TradierBroker``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from brokerlink.adapters._shared import MemoryAuditSink, RetryPolicy
from brokerlink.adapters.tradier import TradierBroker
from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.server import EmulatorServer
from brokerlink.emulators.tradier.app import create_app
from tests.contract.harness import SESSION_START

NO_WAIT = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0)
"""Retries without backoff pauses, so fault tests stay fast."""


@dataclass
class Rig:
    env: EmulatorEnv
    server: EmulatorServer
    admin: httpx.AsyncClient
    broker: TradierBroker
    audit: MemoryAuditSink
    account_id: str
    token: str

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The emulator's admin API, over HTTP."""
        response = await self.admin.request(method, f"/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def fault(self, **rule: Any) -> None:
        await self.call("POST", "/faults", rule)

    async def engine_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = (
            await self.call("GET", f"/accounts/{self.account_id}/orders"))["orders"]
        return orders


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    env = EmulatorEnv.create(BrokerType.TRADIER, seed=5, start=SESSION_START)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        created = (await admin.post("/_emulator/accounts",
                                    json={"cash": "50000", "bearer": True})).json()
        audit = MemoryAuditSink()
        broker = TradierBroker(access_token=created["access_token"],
                               account_id=created["account_id"], base_url=server.url,
                               audit=audit, retry=NO_WAIT)
        async with broker:
            yield Rig(env, server, admin, broker, audit, created["account_id"],
                      created["access_token"])
