"""The paper broker's own behaviour on top of the engine: construction through
``create_broker``, refusals tagged with the broker, quotes, capability checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from brokerlink import create_broker
from brokerlink.adapters.paper import PAPER_CAPABILITIES, PaperBroker
from brokerlink.core.capabilities import Capabilities
from brokerlink.core.enums import BrokerType, OrderSide, OrderStatus, OrderType
from brokerlink.core.errors import (
    BrokerConnectionError,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    NotSupportedError,
    OrderNotFoundError,
    SymbolNotFoundError,
)
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.sim.engine import SimEngine, utc
from brokerlink.sim.events import EventKind

SATURDAY = utc(2026, 11, 28, 15, 0)


def buy(symbol: str, quantity: str, **kwargs: object) -> OrderRequest:
    return OrderRequest.model_validate({"symbol": symbol, "side": OrderSide.BUY,
                                        "quantity": Decimal(quantity), **kwargs})


@pytest.fixture
async def broker() -> AsyncIterator[PaperBroker]:
    made = create_broker("paper", cash=Decimal(5000), market="always_open", seed=3)
    assert isinstance(made, PaperBroker)
    made.connection_id = "conn-1"
    made.engine.set_price("AAPL", Decimal("100.00"))
    made.engine.prices.freeze("AAPL")
    async with made:
        yield made


async def test_create_broker_builds_a_funded_always_open_account(broker: PaperBroker) -> None:
    assert broker.broker_type is BrokerType.PAPER
    assert broker.is_connected()
    balances = await broker.get_balances()
    assert balances.cash == Decimal(5000)
    account = await broker.get_account()
    assert account.account_id == broker.account_id
    assert broker.engine.is_open()
    result = await broker.place_order(buy("AAPL", "2"))
    assert (result.success, result.status, result.filled_price) == (
        True, OrderStatus.FILLED, Decimal("100.01"))
    [position] = await broker.get_positions()
    assert position.quantity == Decimal(2)


async def test_same_seed_same_paper_market() -> None:
    first = create_broker("paper", market="always_open", seed=3)
    second = create_broker("paper", market="always_open", seed=3)
    async with first, second:
        assert (await first.get_quote("MSFT")).last == (await second.get_quote("MSFT")).last
        assert (await first.get_account()).account_id == (await second.get_account()).account_id


async def test_refusals_carry_the_broker_and_change_nothing(broker: PaperBroker) -> None:
    before = await broker.get_balances()
    with pytest.raises(InsufficientFundsError) as funds:
        await broker.place_order(buy("AAPL", "100"))
    # a margin account of 5000: 10000 of buying power against 100 x 100.01
    assert (funds.value.required, funds.value.available) == (Decimal("10001.00"),
                                                             Decimal(10000))
    with pytest.raises(SymbolNotFoundError) as unknown:
        await broker.place_order(buy("NOPE", "1"))
    with pytest.raises(InvalidOrderError) as invalid:
        await broker.place_order(OrderRequest(symbol="AAPL", side=OrderSide.SELL,
                                              quantity=Decimal(1)))
    with pytest.raises(OrderNotFoundError) as missing:
        await broker.cancel_order("no-such-order")
    for error in (funds.value, unknown.value, invalid.value, missing.value):
        assert (error.broker, error.connection_id) == ("paper", "conn-1")
    assert await broker.get_orders() == []
    after = await broker.get_balances()
    assert (after.cash, after.buying_power) == (before.cash, before.buying_power)


async def test_unknown_order_ids_everywhere(broker: PaperBroker) -> None:
    with pytest.raises(OrderNotFoundError):
        await broker.get_order("x")
    with pytest.raises(OrderNotFoundError):
        await broker.get_order_by_client_id("x")
    with pytest.raises(OrderNotFoundError):
        await broker.modify_order("x", OrderModify(quantity=Decimal(1)))


async def test_closed_market_refusal_names_the_next_open() -> None:
    paper = PaperBroker(start=SATURDAY, seed=3)
    async with paper:
        with pytest.raises(MarketClosedError) as closed:
            await paper.place_order(buy("AAPL", "1"))
        assert closed.value.next_open == utc(2026, 11, 30, 14, 30)
        assert closed.value.broker == "paper"
        assert await paper.get_orders() == []


async def test_get_quotes_names_every_unknown_symbol(broker: PaperBroker) -> None:
    quotes = await broker.get_quotes(["AAPL", "MSFT"])
    assert set(quotes) == {"AAPL", "MSFT"}
    assert quotes["AAPL"].last == Decimal("100.00")
    with pytest.raises(SymbolNotFoundError) as unknown:
        await broker.get_quotes(["AAPL", "NOPE1", "MSFT", "NOPE2"])
    assert "NOPE1" in str(unknown.value)
    assert "NOPE2" in str(unknown.value)
    assert (unknown.value.symbol, unknown.value.broker) == ("NOPE1", "paper")
    with pytest.raises(SymbolNotFoundError) as single:
        await broker.get_quote("NOPE3")
    assert single.value.broker == "paper"


async def test_capability_refusal_comes_before_the_engine(broker: PaperBroker) -> None:
    stream = broker.engine.subscribe()
    fractional_stop = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal("0.5"),
                                   order_type=OrderType.STOP, stop_price=Decimal(101))
    with pytest.raises(NotSupportedError) as refused:
        await broker.place_order(fractional_stop)
    assert refused.value.broker == "paper"
    assert stream.get_nowait() is None
    assert await broker.get_orders() == []


async def test_calls_before_connect_are_refused() -> None:
    paper = PaperBroker(market="always_open")
    with pytest.raises(BrokerConnectionError) as refused:
        await paper.get_balances()
    assert refused.value.broker == "paper"


async def test_modify_is_native_and_cancel_reports_success(broker: PaperBroker) -> None:
    placed = await broker.place_order(buy("AAPL", "2", order_type=OrderType.LIMIT,
                                          limit_price=Decimal(90)))
    assert placed.order_id is not None
    changed = await broker.modify_order(placed.order_id, OrderModify(limit_price=Decimal(91)))
    assert changed.order_id == placed.order_id
    assert (await broker.get_order(placed.order_id)).limit_price == Decimal(91)
    assert await broker.cancel_order(placed.order_id) is True
    with pytest.raises(InvalidOrderError):
        await broker.cancel_order(placed.order_id)


async def test_advance_moves_the_paper_market(broker: PaperBroker) -> None:
    start = broker.engine.now()
    await broker.advance(timedelta(hours=2))
    assert broker.engine.now() == start + timedelta(hours=2)
    history = await broker.get_order_history(start, broker.engine.now())
    assert history == []
    assert await broker.get_transactions(datetime(2026, 1, 1, tzinfo=UTC), broker.engine.now())


async def test_shared_engine_keeps_accounts_apart() -> None:
    engine = SimEngine(seed=3, market="always_open")
    async with PaperBroker(engine, account_id="A", cash=1000) as a, \
            PaperBroker(engine, account_id="B", cash=2000) as b:
        assert (await a.get_balances()).cash == Decimal(1000)
        assert (await b.get_balances()).cash == Decimal(2000)
        placed = await a.place_order(buy("F", "1", order_type=OrderType.LIMIT,
                                         limit_price=Decimal(1)))
        assert placed.order_id is not None
        with pytest.raises(OrderNotFoundError):
            await b.get_order(placed.order_id)


async def test_order_changes_stream_to_the_account_subscriber(broker: PaperBroker) -> None:
    async with broker.subscribe() as stream:
        placed = await broker.place_order(buy("AAPL", "1", order_type=OrderType.LIMIT,
                                              limit_price=Decimal(90)))
        await broker.cancel_order(placed.order_id or "")
        kinds = [(await stream.get()).kind for _ in range(3)]
    assert kinds == [EventKind.NEW, EventKind.PENDING_CANCEL, EventKind.CANCELED]


async def test_order_updates_is_the_account_stream_as_order_updates(
        broker: PaperBroker) -> None:
    stream = broker.order_updates()
    assert isinstance(stream, OrderUpdateStream)
    statuses: list[bool] = []
    stream.on_status(statuses.append)
    async with stream:
        assert statuses == [True]
        placed = await broker.place_order(buy("AAPL", "2"))
        update = await anext(stream)
        while not update.is_fill:
            update = await anext(stream)
    assert update.order.order_id == placed.order_id
    assert (update.fill_quantity, update.order.status) == (Decimal(2), OrderStatus.FILLED)
    assert update.execution_id is not None
    assert update.execution_id.startswith("paper-")
    # Closed: iteration ends.
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_order_updates_before_connect_is_refused() -> None:
    with pytest.raises(BrokerConnectionError):
        PaperBroker(market="always_open").order_updates()


async def test_optional_methods_are_gated_by_their_capability(broker: PaperBroker) -> None:
    class Narrow(PaperBroker):
        @property
        def capabilities(self) -> Capabilities:
            return PAPER_CAPABILITIES.model_copy(
                update={"streaming": False, "client_order_ids": False})

    narrow = Narrow(broker.engine, account_id="narrow")
    async with narrow:
        with pytest.raises(NotSupportedError, match="streaming"):
            narrow.order_updates()
        with pytest.raises(NotSupportedError, match="client order ids"):
            await narrow.get_order_by_client_id("anything")
