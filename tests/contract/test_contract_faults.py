"""The contract when the broker misbehaves: unreadable answers are typed errors, an
ambiguous write is reported as such and its order found afterwards by client order id;
and a fill arrives on the order stream."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from brokerlink import (
    BrokerError,
    NotSupportedError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    RequestTimeoutError,
)
from brokerlink.core.events import OrderUpdate, OrderUpdateStream
from tests.contract.harness import MALFORMED, FaultControl, Harness

WAIT = 10.0


def faults_of(harness: Harness) -> FaultControl:
    if harness.faults is None:
        pytest.skip(f"{harness.name} has no wire and no store: nothing can be garbled or lost")
    return harness.faults


async def _only_order_with(harness: Harness, request: OrderRequest) -> str:
    """The id of the one order placed with ``request``'s client order id (by lookup where
    the broker has it, else from the order list); fails if there is none or several."""
    if harness.broker.capabilities.client_order_ids:
        found = await harness.broker.get_order_by_client_id(request.client_order_id)
        assert found.client_order_id == request.client_order_id
        assert found.symbol == request.symbol
    matching = [o for o in await harness.broker.get_orders()
                if o.client_order_id == request.client_order_id]
    assert len(matching) == 1, f"{len(matching)} orders carry the client order id"
    if harness.broker.capabilities.client_order_ids:
        assert matching[0].order_id == found.order_id
    return matching[0].order_id


@pytest.mark.parametrize("malformed", MALFORMED)
async def test_an_unreadable_read_is_a_broker_error(harness: Harness, malformed: str) -> None:
    faults = faults_of(harness)
    await harness.broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=2))
    before = await harness.broker.get_balances()
    await faults.garble_reads(malformed)
    with pytest.raises(BrokerError) as raised:
        await harness.broker.get_balances()
    # A read changes nothing: it is never reported as an ambiguous write.
    assert not isinstance(raised.value, RequestTimeoutError)
    await faults.heal()
    after = await harness.broker.get_balances()
    assert after.cash == before.cash
    positions = {p.symbol: p.quantity for p in await harness.broker.get_positions()}
    assert positions == {"KO": 2}


@pytest.mark.parametrize("malformed", MALFORMED)
async def test_an_unreadable_acknowledgement_is_ambiguous_and_the_order_is_found(
        harness: Harness, malformed: str) -> None:
    faults = faults_of(harness)
    request = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1)
    await faults.garble_next_placement(malformed)
    with pytest.raises(RequestTimeoutError) as raised:
        await harness.broker.place_order(request)
    assert raised.value.client_order_id == request.client_order_id
    await faults.heal()
    order = await harness.broker.get_order(await _only_order_with(harness, request))
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == 1


async def test_lookup_by_client_id_after_a_dropped_answer(harness: Harness) -> None:
    faults = faults_of(harness)
    request = OrderRequest(symbol="MSFT", side=OrderSide.BUY, quantity=2)
    await faults.drop_next_placement()
    with pytest.raises(RequestTimeoutError) as raised:
        await harness.broker.place_order(request)
    assert raised.value.client_order_id == request.client_order_id
    if not harness.broker.capabilities.client_order_ids:
        with pytest.raises(NotSupportedError):
            await harness.broker.get_order_by_client_id(request.client_order_id)
        return
    found = await harness.broker.get_order_by_client_id(request.client_order_id)
    assert (found.symbol, found.quantity, found.client_order_id) == (
        "MSFT", Decimal(2), request.client_order_id)
    assert found.status is OrderStatus.FILLED
    assert await _only_order_with(harness, request) == found.order_id


async def test_the_stream_delivers_the_fill_of_a_marketable_order(harness: Harness) -> None:
    broker = harness.broker
    if not broker.capabilities.streaming:
        with pytest.raises(NotSupportedError):
            broker.order_updates()
        return
    stream = broker.order_updates()
    assert isinstance(stream, OrderUpdateStream)
    up = asyncio.Event()
    stream.on_status(lambda subscribed: up.set() if subscribed else None)
    updates: asyncio.Queue[OrderUpdate] = asyncio.Queue()

    async def pump() -> None:
        async for update in stream:
            updates.put_nowait(update)

    async with stream:
        task = asyncio.create_task(pump())
        try:
            async with asyncio.timeout(WAIT):
                await up.wait()
                placed = await broker.place_order(
                    OrderRequest(symbol="MSFT", side=OrderSide.BUY, quantity=2))
                seen: list[OrderUpdate] = []
                while not (seen and seen[-1].order.order_id == placed.order_id
                           and seen[-1].is_fill):
                    seen.append(await updates.get())
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    fill = seen[-1]
    assert fill.order.symbol == "MSFT"
    assert fill.order.status is OrderStatus.FILLED
    assert fill.order.filled_quantity == 2
    assert fill.fill_quantity in (None, Decimal(2))
    if fill.fill_price is not None:
        assert fill.fill_price > 0
    order = await broker.get_order(fill.order.order_id)
    assert order.average_fill_price == fill.order.average_fill_price
