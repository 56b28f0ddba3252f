"""Alpaca and Tradier emulators on loopback with funded accounts and connected brokers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from brokerlink.adapters._shared import RetryPolicy
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

NO_WAIT = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, max_retry_after=0)
"""Read retries without pauses: fault tests stay fast."""

ORDER_PATHS = {"alpaca": "/v2/orders", "tradier": "/v1/accounts/*/orders"}
LOOKUP_PATHS = {"alpaca": "/v2/orders:by_client_order_id*", "tradier": "/v1/accounts/*/orders"}
"""Where each adapter looks an order up by client order id (Tradier: its order list)."""


@dataclass
class Account:
    """One emulator account and the broker bound to it."""

    kind: str
    connection_id: str
    account_id: str
    broker: BrokerInterface
    admin: httpx.AsyncClient
    credentials: dict[str, str] = field(repr=False, default_factory=dict)

    async def orders(self) -> list[dict[str, Any]]:
        """Every order the emulator holds for this account (admin API)."""
        response = await self.admin.get(f"/_emulator/accounts/{self.account_id}/orders")
        response.raise_for_status()
        orders: list[dict[str, Any]] = response.json()["orders"]
        return orders

    async def placed(self) -> dict[str, tuple[str, str]]:
        """Broker order id -> (client order id, raw status) of every emulator order.

        Alpaca's admin list carries the client order id; Tradier keeps it as the order's
        ``tag``, read here from Tradier's own API (``includeTags``), not through the adapter.
        """
        if self.kind == "alpaca":
            return {o["order_id"]: (o["client_order_id"], o["status"])
                    for o in await self.orders()}
        async with httpx.AsyncClient(base_url=self.credentials["url"]) as client:
            response = await client.get(
                f"/v1/accounts/{self.account_id}/orders", params={"includeTags": "true"},
                headers={"Authorization": f"Bearer {self.credentials['access_token']}",
                         "Accept": "application/json"})
        response.raise_for_status()
        body = response.json()["orders"]
        items = [] if body in (None, "null") else body["order"]
        items = items if isinstance(items, list) else [items]
        return {str(o["id"]): (str(o.get("tag")), str(o["status"])) for o in items}

    async def fault(self, **rule: Any) -> str:
        """Install a fault on this account's emulator (admin API); returns its id."""
        response = await self.admin.post("/_emulator/faults", json=rule)
        response.raise_for_status()
        rule_id: str = response.json()["id"]
        return rule_id

    async def release(self, rule_id: str) -> dict[str, Any]:
        """End a ``late_placement`` rule's hold and wait until the requests it held have
        been handled (placed, or refused as a duplicate) (admin API)."""
        response = await self.admin.post(f"/_emulator/faults/{rule_id}/release",
                                         json={"within": 10})
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def faults(self) -> list[dict[str, Any]]:
        """The fault rules installed on this account's emulator, each with ``fired``:
        how often it fired (admin API). Clearing the rules forgets the counts."""
        response = await self.admin.get("/_emulator/faults")
        response.raise_for_status()
        rules: list[dict[str, Any]] = response.json()["faults"]
        return rules

    async def clear_faults(self) -> None:
        (await self.admin.delete("/_emulator/faults")).raise_for_status()

    async def last_price(self, symbol: str) -> Decimal:
        """The emulator's last price for ``symbol`` (admin API)."""
        response = await self.admin.get(f"/_emulator/quotes/{symbol}")
        response.raise_for_status()
        return Decimal(response.json()["last"])

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Pin ``symbol``'s price on this account's emulator (every account there sees
        it); resting orders the new price reaches fill at once (admin API)."""
        response = await self.admin.post("/_emulator/prices",
                                          json={"symbol": symbol, "price": str(price)})
        response.raise_for_status()


@asynccontextmanager
async def emulator_accounts(*, alpaca: int = 0, tradier: int = 0,
                            cash: str = "10000000") -> AsyncIterator[list[Account]]:
    """Start the emulators needed, open accounts, connect one broker per account."""
    async with AsyncExitStack() as stack:
        accounts: list[Account] = []
        if alpaca:
            server = await stack.enter_async_context(
                EmulatorServer(alpaca_app(alpaca_env(seed=5, start=SESSION_START))))
            admin = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url))
            for index in range(alpaca):
                made = (await admin.post("/_emulator/accounts", json={"cash": cash})).json()
                broker = AlpacaBroker(
                    AlpacaAuth(key_id=made["api_key_id"], secret_key=made["api_secret"]),
                    config=AlpacaConfig.emulator(server.url), retry=NO_WAIT)
                await stack.enter_async_context(broker)
                accounts.append(Account("alpaca", f"alpaca-{index}", made["account_id"],
                                        broker, admin, {**made, "url": server.url}))
        if tradier:
            env = EmulatorEnv.create(BrokerType.TRADIER, seed=5, start=SESSION_START)
            server = await stack.enter_async_context(EmulatorServer(tradier_app(env)))
            admin = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url))
            for index in range(tradier):
                made = (await admin.post("/_emulator/accounts",
                                         json={"cash": cash, "bearer": True})).json()
                tradier_broker = TradierBroker(access_token=made["access_token"],
                                               account_id=made["account_id"],
                                               base_url=server.url, retry=NO_WAIT)
                await stack.enter_async_context(tradier_broker)
                accounts.append(Account("tradier", f"tradier-{index}", made["account_id"],
                                        tradier_broker, admin, {**made, "url": server.url}))
        yield accounts
