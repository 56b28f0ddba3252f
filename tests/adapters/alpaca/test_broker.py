"""``AlpacaBroker`` against the Alpaca emulator over real loopback sockets: typed errors,
the trade_updates stream, and behaviour under injected faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig, OrderUpdate
from brokerlink.core.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from brokerlink.core.errors import (
    AuthError,
    BrokerUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RequestTimeoutError,
    SymbolNotFoundError,
)
from brokerlink.core.models import OrderRequest
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app, create_env
from tests.contract.harness import SESSION_START
from tests.contract.harness_alpaca import fast_retries


@dataclass
class Setup:
    broker: AlpacaBroker
    admin: httpx.AsyncClient
    url: str
    account_id: str
    key_id: str
    secret: str

    async def fault(self, **rule: Any) -> None:
        response = await self.admin.post("/_emulator/faults", json=rule)
        response.raise_for_status()

    async def fired(self) -> list[int]:
        faults = (await self.admin.get("/_emulator/faults")).json()["faults"]
        return [int(f["fired"]) for f in faults]

    async def engine_orders(self) -> list[dict[str, Any]]:
        response = await self.admin.get(f"/_emulator/accounts/{self.account_id}/orders")
        orders: list[dict[str, Any]] = response.json()["orders"]
        return orders


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    env = create_env(seed=5, start=SESSION_START)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts", json={"cash": "50000"})).json()
        broker = AlpacaBroker(AlpacaAuth(key_id=made["api_key_id"],
                                         secret_key=made["api_secret"]),
                              config=AlpacaConfig.emulator(server.url), retry=fast_retries())
        async with broker:
            yield Setup(broker, admin, server.url, made["account_id"], made["api_key_id"],
                        made["api_secret"])


def buy(symbol: str = "AAPL", quantity: int = 1, **fields: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity, **fields)


# --- typed errors -----------------------------------------------------------------------


async def test_refusals_are_typed_and_keep_alpacas_message(setup: Setup) -> None:
    with pytest.raises(SymbolNotFoundError) as unknown:
        await setup.broker.place_order(buy("ZZZQX"))
    assert 'asset "ZZZQX" not found' in unknown.value.message
    assert (unknown.value.symbol, unknown.value.http_status) == ("ZZZQX", 422)
    with pytest.raises(InsufficientFundsError) as funds:
        await setup.broker.place_order(buy("AAPL", 10_000))
    assert "insufficient buying power" in funds.value.message
    assert funds.value.available is not None
    assert funds.value.required is not None
    assert funds.value.required > funds.value.available
    with pytest.raises(InvalidOrderError) as invalid:
        # BYND cannot be borrowed: selling it unheld (a short sale) is refused.
        await setup.broker.place_order(OrderRequest(symbol="BYND", side="sell", quantity=1))
    assert "not available to short" in invalid.value.message
    with pytest.raises(OrderNotFoundError) as missing:
        await setup.broker.get_order("00000000-0000-4000-8000-000000000000")
    assert "order not found" in missing.value.message
    assert await setup.engine_orders() == []


async def test_wrong_credentials_raise_auth_error_without_the_secret(setup: Setup) -> None:
    broker = AlpacaBroker(AlpacaAuth(key_id=setup.key_id, secret_key="not-the-secret-9"),
                          config=AlpacaConfig.emulator(setup.url), retry=fast_retries())
    with pytest.raises(AuthError) as refused:
        await broker.connect()
    await broker.disconnect()
    assert "unauthorized." in refused.value.message
    for text in (str(refused.value), repr(broker), repr(AlpacaAuth(key_id="k", secret_key="s"))):
        assert "not-the-secret-9" not in text
        assert setup.secret not in text


async def test_oauth_bearer_token_trades_the_same_account(setup: Setup) -> None:
    minted = await setup.admin.post(f"/_emulator/accounts/{setup.account_id}/tokens", json={})
    token = minted.json()["access_token"]
    async with AlpacaBroker(AlpacaAuth(oauth_token=token),
                            config=AlpacaConfig.emulator(setup.url)) as broker:
        account = await broker.get_account()
    assert account.account_id == setup.account_id


# --- the stream -------------------------------------------------------------------------


async def _next_for(updates: AsyncIterator[OrderUpdate], order_id: str,
                    event: str) -> OrderUpdate:
    async with asyncio.timeout(10):
        async for update in updates:
            if update.order.order_id == order_id and update.event == event:
                return update
    raise AssertionError("the stream ended")


async def test_stream_delivers_new_and_fill(setup: Setup) -> None:
    market = setup.admin
    await market.post("/_emulator/prices", json={"symbol": "NVDA", "price": "140.00"})
    async with setup.broker.order_updates() as stream:
        placed = await setup.broker.place_order(buy(
            "NVDA", 4, order_type=OrderType.LIMIT, limit_price=Decimal("130.00"),
            time_in_force=TimeInForce.GTC))
        assert placed.order_id is not None
        new = await _next_for(stream, placed.order_id, "new")
        assert new.order.status is OrderStatus.NEW
        await market.post("/_emulator/prices", json={"symbol": "NVDA", "price": "129.00"})
        await market.post("/_emulator/clock/advance", json={"seconds": 60})
        fill = await _next_for(stream, placed.order_id, "fill")
    assert fill.order.status is OrderStatus.FILLED
    assert fill.fill_quantity == 4
    assert fill.position_quantity == 4
    assert fill.fill_price is not None
    assert fill.fill_price <= Decimal("130.00")
    assert fill.execution_id


async def test_stream_reconnects_after_a_drop(setup: Setup) -> None:
    await setup.fault(kind="stream_drop", path="/stream", after_messages=1, count=1)
    async with setup.broker.order_updates() as stream:
        first = await setup.broker.place_order(buy("KO"))
        assert first.order_id is not None
        await _next_for(stream, first.order_id, "new")
        # The fill of the first order closes the connection; wait for the stream to
        # notice and subscribe again, then trade again.
        reader = asyncio.ensure_future(stream.__anext__())
        await asyncio.wait_for(stream.reconnected.wait(), 10)
        second = await setup.broker.place_order(buy("PEP"))
        assert second.order_id is not None
        update = await asyncio.wait_for(reader, 10)
        assert update.order.order_id == second.order_id
    assert stream.reconnects == 1


# --- faults -----------------------------------------------------------------------------


async def test_reads_recover_after_5xx_429_and_resets(setup: Setup) -> None:
    await setup.fault(kind="error", operation="get_account", status=503, count=2)
    await setup.fault(kind="rate_limit", operation="list_positions", retry_after=0, count=1)
    await setup.fault(kind="reset", operation="list_orders", count=1)
    assert (await setup.broker.get_account()).account_id == setup.account_id
    assert await setup.broker.get_positions() == []
    assert await setup.broker.get_orders() == []
    assert await setup.fired() == [2, 1, 1]


async def test_a_failed_write_is_not_retried(setup: Setup) -> None:
    await setup.fault(kind="error", operation="place_order", status=503, count=1)
    with pytest.raises(BrokerUnavailableError):
        await setup.broker.place_order(buy())
    assert await setup.fired() == [1]
    assert await setup.engine_orders() == []


async def test_accept_then_drop_leaves_exactly_one_order(setup: Setup) -> None:
    await setup.fault(kind="drop_after", operation="place_order", count=1)
    request = buy("MSFT", 2)
    with pytest.raises(RequestTimeoutError) as lost:
        await setup.broker.place_order(request)
    assert lost.value.client_order_id == request.client_order_id
    orders = await setup.engine_orders()
    assert len(orders) == 1
    assert orders[0]["client_order_id"] == request.client_order_id
    found = await setup.broker.get_order_by_client_id(request.client_order_id)
    assert found.order_id == orders[0]["order_id"]
    assert found.status is OrderStatus.FILLED
    assert len(await setup.engine_orders()) == 1
