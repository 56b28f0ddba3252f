"""The Alpaca adapter's contract harness: ``AlpacaBroker`` against the Alpaca emulator
over a real loopback socket, with the market moved through the emulator's admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from brokerlink.adapters._shared import RetryPolicy
from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app, create_env
from tests.contract.harness import SESSION_START, EmulatorFaults, Harness


class AdminMarket:
    """``MarketControl`` through ``/_emulator`` over HTTP."""

    def __init__(self, admin: httpx.AsyncClient) -> None:
        self.admin = admin

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.admin.request(method, f"/_emulator{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def set_price(self, symbol: str, price: Decimal) -> None:
        await self._call("POST", "/prices", {"symbol": symbol, "price": str(price)})

    async def advance(self, delta: timedelta) -> None:
        await self._call("POST", "/clock/advance", {"seconds": delta.total_seconds()})

    async def close_market(self) -> None:
        clock = await self._call("GET", "/clock")
        # Five hours after the regular close the post-market (to 20:00) is over too.
        after = datetime.fromisoformat(clock["next_close"]) + timedelta(hours=5)
        await self._call("POST", "/clock/set", {"at": after.isoformat()})

    async def option_symbol(self, underlying: str) -> str:
        clock = await self._call("GET", "/clock")
        today = datetime.fromisoformat(clock["now"]).date().isoformat()
        spot = Decimal((await self._call("GET", f"/quotes/{underlying}"))["last"])
        chain = (await self._call("GET", f"/options/{underlying}"))["contracts"]
        later = [c for c in chain if c["expiration"] > today]
        nearest = min(later, key=lambda c: (c["expiration"], abs(Decimal(c["strike"]) - spot)))
        return str(nearest["symbol"])


def fast_retries() -> RetryPolicy:
    """Retries with tiny delays, so fault tests stay fast."""
    return RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=2)


@asynccontextmanager
async def open_harness() -> AsyncIterator[Harness]:
    env = create_env(seed=11, start=SESSION_START)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts", json={"cash": "100000"})).json()
        auth = AlpacaAuth(key_id=made["api_key_id"], secret_key=made["api_secret"])

        def another() -> AlpacaBroker:
            return AlpacaBroker(auth, config=AlpacaConfig.emulator(server.url),
                                retry=fast_retries())

        faults = EmulatorFaults(admin, read_path="/v2/account", write_path="/v2/orders")
        await faults.start_counting()
        async with another() as broker:
            yield Harness("alpaca", broker, AdminMarket(admin), rejects_when_closed=False,
                          faults=faults, another=another)
