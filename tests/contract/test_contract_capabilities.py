"""One test per capability flag: what ``capabilities`` says is what the broker does.

A feature a broker claims must work through the interface; a feature it disclaims must
be refused with ``NotSupportedError`` before any request leaves (checked with the
harness's request counter, and by the account being unchanged).
``test_every_capability_has_its_test`` keeps this file complete as flags are added.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest

from brokerlink import (
    AssetType,
    BrokerError,
    Capabilities,
    NotSupportedError,
    OrderModify,
    OrderNotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.errors import InvalidOrderError
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.numbers import MAX_QUANTITY_PLACES
from tests.contract.harness import Harness

PRICE = Decimal("240.00")
"""JPM is pinned here before each resting order, so the prices below never trade."""
BELOW = Decimal("200.00")
ABOVE = Decimal("280.00")
WAIT = 10.0
OPEN_OR_DONE = (OrderStatus.NEW, OrderStatus.PENDING_NEW,
                OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.FILLED)


async def _state(h: Harness) -> tuple[int, Decimal, list[tuple[str, Decimal]]]:
    orders = await h.broker.get_orders()
    balances = await h.broker.get_balances()
    positions = await h.broker.get_positions()
    return len(orders), balances.cash, [(p.symbol, p.quantity) for p in positions]


@asynccontextmanager
async def refused_before_io(h: Harness) -> AsyncIterator[None]:
    """The body must raise ``NotSupportedError`` without a request reaching the broker,
    and leave the account as it was."""
    before = await _state(h)
    sent = await h.faults.requests() if h.faults is not None else None
    with pytest.raises(NotSupportedError):
        yield
    if h.faults is not None:
        assert await h.faults.requests() == sent, "a request left before the refusal"
    assert await _state(h) == before


async def _pin(h: Harness) -> None:
    await h.market.set_price("JPM", PRICE)


def _resting(order_type: OrderType, **fields: Any) -> OrderRequest:
    """A buy of one JPM share of ``order_type`` that does not trade at ``PRICE``."""
    prices: dict[OrderType, dict[str, Any]] = {
        OrderType.MARKET: {},
        OrderType.LIMIT: {"limit_price": BELOW},
        OrderType.STOP: {"stop_price": ABOVE},
        OrderType.STOP_LIMIT: {"stop_price": ABOVE, "limit_price": ABOVE + 1},
        OrderType.TRAILING_STOP: {"trail_amount": Decimal(30)},
    }
    return OrderRequest(**{"symbol": "JPM", "side": OrderSide.BUY, "quantity": 1,
                           "order_type": order_type, **prices[order_type], **fields})


async def _placed(h: Harness, request: OrderRequest) -> str:
    result = await h.broker.place_order(request)
    assert result.success
    assert result.order_id
    order = await h.broker.get_order(result.order_id)
    assert order.status in OPEN_OR_DONE, order
    return result.order_id


async def _stops(h: Harness, order_id: str) -> None:
    """Cancel ``order_id`` if it still rests, so the next case starts clean."""
    order = await h.broker.get_order(order_id)
    if order.status in (OrderStatus.NEW, OrderStatus.PENDING_NEW):
        assert await h.broker.cancel_order(order_id)


# --- what can be traded ---------------------------------------------------------------


async def test_capability_asset_types(harness: Harness) -> None:
    caps = harness.broker.capabilities
    symbols = {AssetType.EQUITY: "AAPL", AssetType.ETF: "SPY"}
    if AssetType.OPTION in caps.asset_types and caps.options:
        symbols[AssetType.OPTION] = await harness.market.option_symbol("AAPL")
    for asset in caps.asset_types:
        assert asset in symbols, f"the contract has no {asset.value} to try"
        side = OrderSide.BUY_TO_OPEN if asset is AssetType.OPTION else OrderSide.BUY
        placed = await harness.broker.place_order(
            OrderRequest(symbol=symbols[asset], side=side, quantity=1))
        assert placed.status is OrderStatus.FILLED
    held = {p.symbol: p.asset_type for p in await harness.broker.get_positions()}
    for asset, symbol in symbols.items():
        if asset in caps.asset_types:
            # A broker's position need not tell an ETF from a stock (Alpaca's and
            # Tradier's do not): an ETF may come back as an equity.
            assert held[symbol] in ({asset, AssetType.EQUITY} if asset is AssetType.ETF
                                    else {asset})
    if AssetType.OPTION not in caps.asset_types:
        async with refused_before_io(harness):
            await harness.broker.place_order(OrderRequest(
                symbol="AAPL270115C00150000", side=OrderSide.BUY_TO_OPEN, quantity=1))


async def test_capability_order_types(harness: Harness) -> None:
    caps = harness.broker.capabilities
    await _pin(harness)
    for order_type in OrderType:
        request = _resting(order_type)
        if order_type in caps.order_types:
            order_id = await _placed(harness, request)
            order = await harness.broker.get_order(order_id)
            assert order.order_type is order_type
            await _stops(harness, order_id)
        else:
            async with refused_before_io(harness):
                await harness.broker.place_order(request)


async def test_capability_time_in_force(harness: Harness) -> None:
    caps = harness.broker.capabilities
    await _pin(harness)
    for tif in TimeInForce:
        request = _resting(OrderType.LIMIT, time_in_force=tif)
        if tif not in caps.time_in_force:
            async with refused_before_io(harness):
                await harness.broker.place_order(request)
            continue
        if tif in (TimeInForce.OPG, TimeInForce.CLS):
            # Auction orders are taken only at certain times; mid-session the broker may
            # refuse one, but it must have been sent: the adapter maps it to the wire.
            sent = await harness.faults.requests() if harness.faults else None
            try:
                order_id = await _placed(harness, request)
            except NotSupportedError:
                raise
            except BrokerError:
                if harness.faults is not None:
                    assert await harness.faults.requests() != sent
                continue
        else:
            order_id = await _placed(harness, request)
        order = await harness.broker.get_order(order_id)
        assert order.time_in_force is tif
        await _stops(harness, order_id)


async def test_capability_fractional_shares(harness: Harness) -> None:
    request = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal("0.5"))
    if not harness.broker.capabilities.fractional_shares:
        async with refused_before_io(harness):
            await harness.broker.place_order(request)
        return
    placed = await harness.broker.place_order(request)
    assert placed.status is OrderStatus.FILLED
    assert placed.order_id
    assert (await harness.broker.get_order(placed.order_id)).filled_quantity == Decimal("0.5")
    positions = {p.symbol: p.quantity for p in await harness.broker.get_positions()}
    assert positions["AAPL"] == Decimal("0.5")


async def test_capability_fractional_order_types(harness: Harness) -> None:
    caps = harness.broker.capabilities
    if not caps.fractional_shares:
        pytest.skip(f"{harness.name} takes no fractional quantity at all (see above)")
    await _pin(harness)
    for order_type in caps.order_types:
        request = _resting(order_type, quantity=Decimal("0.5"))
        if order_type in caps.fractional_order_types:
            await _stops(harness, await _placed(harness, request))
        else:
            async with refused_before_io(harness):
                await harness.broker.place_order(request)


async def test_capability_quantity_places(harness: Harness) -> None:
    # The finest quantity the broker claims trades; one place finer is refused before
    # any request (InvalidOrderError naming quantity, or NotSupportedError where the
    # broker takes no fraction at all), leaving the account as it was.
    places = harness.broker.capabilities.quantity_places
    finest = Decimal(1).scaleb(-places)
    placed = await harness.broker.place_order(
        OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=finest))
    assert placed.status is OrderStatus.FILLED
    if places >= MAX_QUANTITY_PLACES:
        return  # nothing finer is a quantity at all (the core model refuses it)
    before = await _state(harness)
    sent = await harness.faults.requests() if harness.faults is not None else None
    with pytest.raises((InvalidOrderError, NotSupportedError)) as refused:
        await harness.broker.place_order(OrderRequest(
            symbol="AAPL", side=OrderSide.BUY, quantity=finest / 10))
    if isinstance(refused.value, InvalidOrderError):
        assert refused.value.field == "quantity"
    if harness.faults is not None:
        assert await harness.faults.requests() == sent, "a request left before the refusal"
    assert await _state(harness) == before


async def test_capability_short_selling(harness: Harness) -> None:
    request = OrderRequest(symbol="XOM", side=OrderSide.SELL_SHORT, quantity=2)
    if not harness.broker.capabilities.short_selling:
        async with refused_before_io(harness):
            await harness.broker.place_order(request)
        return
    placed = await harness.broker.place_order(request)
    assert placed.status is OrderStatus.FILLED
    positions = {p.symbol: p.quantity for p in await harness.broker.get_positions()}
    assert positions["XOM"] == -2


async def test_capability_extended_hours(harness: Harness) -> None:
    await _pin(harness)
    request = _resting(OrderType.LIMIT, extended_hours=True)
    if not harness.broker.capabilities.extended_hours:
        async with refused_before_io(harness):
            await harness.broker.place_order(request)
        return
    order_id = await _placed(harness, request)
    assert (await harness.broker.get_order(order_id)).extended_hours is True
    await _stops(harness, order_id)


async def test_capability_options(harness: Harness) -> None:
    caps = harness.broker.capabilities
    if not caps.options:
        async with refused_before_io(harness):
            await harness.broker.place_order(OrderRequest(
                symbol="AAPL270115C00150000", side=OrderSide.BUY_TO_OPEN, quantity=1))
        return
    assert AssetType.OPTION in caps.asset_types
    symbol = await harness.market.option_symbol("AAPL")
    placed = await harness.broker.place_order(
        OrderRequest(symbol=symbol, side=OrderSide.BUY_TO_OPEN, quantity=1))
    assert placed.status is OrderStatus.FILLED
    held = {p.symbol: p for p in await harness.broker.get_positions()}
    assert held[symbol].asset_type is AssetType.OPTION


async def test_capability_options_level(harness: Harness) -> None:
    caps = harness.broker.capabilities
    account = await harness.broker.get_account()
    # A level is what the account may trade: 0 means no options at all.
    assert caps.options == (caps.options_level >= 1)
    assert account.can_trade_options == caps.options


async def test_capability_multi_leg(harness: Harness) -> None:
    # The interface takes single-leg orders; a broker that claims multi-leg orders
    # offers them beside it (``place_multileg_order``), one that does not has none.
    has_method = callable(getattr(harness.broker, "place_multileg_order", None))
    assert has_method == harness.broker.capabilities.multi_leg


async def test_capability_modify(harness: Harness) -> None:
    style = harness.broker.capabilities.modify
    await _pin(harness)
    placed = await _placed(harness, _resting(OrderType.LIMIT, time_in_force=TimeInForce.GTC))
    change = OrderModify(limit_price=BELOW + 5)
    if style is ModifyStyle.NONE:
        async with refused_before_io(harness):
            await harness.broker.modify_order(placed, change)
        return
    changed = await harness.broker.modify_order(placed, change)
    assert changed.order_id
    if style is ModifyStyle.NATIVE:
        assert changed.order_id == placed
    else:
        assert changed.order_id != placed
        old = await harness.broker.get_order(placed)
        assert old.status is OrderStatus.REPLACED
    current = await harness.broker.get_order(changed.order_id)
    assert current.limit_price == BELOW + 5
    await _stops(harness, changed.order_id)


# --- what can be read -----------------------------------------------------------------


async def test_capability_streaming(harness: Harness) -> None:
    if not harness.broker.capabilities.streaming:
        async with refused_before_io(harness):
            harness.broker.order_updates()
        return
    stream = harness.broker.order_updates()
    assert isinstance(stream, OrderUpdateStream)
    up = asyncio.Event()
    stream.on_status(lambda subscribed: up.set() if subscribed else None)

    async def drain() -> None:
        async for _ in stream:
            pass

    async with stream:
        task = asyncio.create_task(drain())
        try:
            # It subscribes (the fill's delivery is test_contract_faults' stream test).
            await asyncio.wait_for(up.wait(), WAIT)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert stream.reconnects == 0


async def test_capability_client_order_ids(harness: Harness) -> None:
    request = OrderRequest(symbol="KO", side=OrderSide.BUY, quantity=1,
                           client_order_id="contract-client-id-1")
    placed = await harness.broker.place_order(request)
    if not harness.broker.capabilities.client_order_ids:
        async with refused_before_io(harness):
            await harness.broker.get_order_by_client_id(request.client_order_id)
        return
    found = await harness.broker.get_order_by_client_id(request.client_order_id)
    assert found.order_id == placed.order_id
    assert found.client_order_id == request.client_order_id
    with pytest.raises(OrderNotFoundError):
        await harness.broker.get_order_by_client_id("contract-never-sent")


async def test_capability_order_preview(harness: Harness) -> None:
    preview = getattr(harness.broker, "preview_order", None)
    if not harness.broker.capabilities.order_preview:
        assert preview is None
        return
    assert callable(preview)
    before = await _state(harness)
    await preview(OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1))
    assert await _state(harness) == before  # previewed, not placed


async def test_capability_quotes(harness: Harness) -> None:
    if not harness.broker.capabilities.quotes:
        async with refused_before_io(harness):
            await harness.broker.get_quote("AAPL")
        return
    quote = await harness.broker.get_quote("AAPL")
    assert quote.symbol == "AAPL"
    assert quote.last is not None
    assert quote.last > 0


async def test_capability_option_quotes(harness: Harness) -> None:
    caps = harness.broker.capabilities
    symbol = (await harness.market.option_symbol("AAPL") if caps.options
              else "AAPL270115C00150000")
    if not caps.option_quotes:
        async with refused_before_io(harness):
            await harness.broker.get_quote(symbol)
        return
    quote = await harness.broker.get_quote(symbol)
    assert quote.symbol == symbol
    assert quote.bid is not None
    assert quote.ask is not None
    assert quote.bid <= quote.ask


async def test_capability_transactions(harness: Harness) -> None:
    placed = await harness.broker.place_order(
        OrderRequest(symbol="PEP", side=OrderSide.BUY, quantity=1))
    today = (await harness.broker.get_account()).as_of.date()
    if not harness.broker.capabilities.transactions:
        async with refused_before_io(harness):
            await harness.broker.get_transactions(today, today)
        return
    fills = [t for t in await harness.broker.get_transactions(today, today)
             if t.type is TransactionType.FILL and t.order_id == placed.order_id]
    assert sum((t.quantity or Decimal(0) for t in fills), Decimal(0)) == 1


def test_every_capability_has_its_test() -> None:
    tests: dict[str, Callable[..., Awaitable[None]]] = {
        name.removeprefix("test_capability_"): value
        for name, value in vars(sys.modules[__name__]).items()
        if name.startswith("test_capability_")}
    assert set(tests) == set(Capabilities.model_fields)
