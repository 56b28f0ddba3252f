"""The Tradier adapter's contract harness: ``TradierBroker`` against the Tradier emulator
over a real loopback socket, with the market moved through the emulator's admin API
(over HTTP, as any client would). Tradier queues orders while the market is closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from brokerlink.adapters.tradier import TradierBroker
from brokerlink.core.enums import BrokerType
from brokerlink.core.values import to_utc
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.server import EmulatorServer
from brokerlink.emulators.tradier.app import create_app
from tests.contract.harness import SESSION_START, EmulatorFaults, Harness

POST_MARKET = timedelta(hours=4)


class AdminMarket:
    """``MarketControl`` through ``/_emulator`` over HTTP."""

    def __init__(self, admin: httpx.AsyncClient) -> None:
        self.admin = admin

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.admin.request(method, f"/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def set_price(self, symbol: str, price: Decimal) -> None:
        await self._call("POST", "/prices", {"symbol": symbol, "price": str(price)})

    async def advance(self, delta: timedelta) -> None:
        await self._call("POST", "/clock/advance", {"seconds": str(delta.total_seconds())})

    async def close_market(self) -> None:
        clock = await self._call("GET", "/clock")
        closed = to_utc(clock["next_close"]) + POST_MARKET + timedelta(minutes=30)
        await self._call("POST", "/clock/set", {"at": closed.isoformat()})

    async def option_symbol(self, underlying: str) -> str:
        clock = await self._call("GET", "/clock")
        today = to_utc(clock["now"]).date()
        spot = Decimal((await self._call("GET", f"/quotes/{underlying}"))["last"])
        chain = (await self._call("GET", f"/options/{underlying}"))["contracts"]
        later = [c for c in chain if datetime.fromisoformat(c["expiration"]).date() > today]
        nearest = min(later, key=lambda c: (c["expiration"], abs(Decimal(c["strike"]) - spot)))
        return str(nearest["symbol"])


@asynccontextmanager
async def open_harness() -> AsyncIterator[Harness]:
    env = EmulatorEnv.create(BrokerType.TRADIER, seed=11, start=SESSION_START)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        market = AdminMarket(admin)
        opened = await market._call("POST", "/accounts", {"cash": "100000", "bearer": True})

        def another() -> TradierBroker:
            return TradierBroker(access_token=opened["access_token"],
                                 account_id=opened["account_id"], base_url=server.url)

        faults = EmulatorFaults(admin, read_path="/v1/accounts/*/balances",
                                write_path="/v1/accounts/*/orders")
        await faults.start_counting()
        async with another() as broker:
            yield Harness("tradier", broker, market, rejects_when_closed=False,
                          faults=faults, another=another)
