"""The contract every ``BrokerInterface`` must keep, whatever broker is behind it."""

from __future__ import annotations

import inspect
from datetime import UTC, timedelta
from decimal import Decimal

import pytest

from brokerlink import (
    AssetType,
    InsufficientFundsError,
    InvalidOrderError,
    MarketClosedError,
    OrderModify,
    OrderNotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    SymbolNotFoundError,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.capabilities import ModifyStyle
from tests.contract.harness import UNKNOWN_SYMBOL, Harness

MINUTE = timedelta(minutes=1)


async def _state(h: Harness) -> tuple[int, Decimal, list[tuple[str, Decimal]]]:
    orders = await h.broker.get_orders()
    balances = await h.broker.get_balances()
    positions = await h.broker.get_positions()
    return len(orders), balances.cash, [(p.symbol, p.quantity) for p in positions]


async def test_connects_and_describes_account(harness: Harness) -> None:
    assert harness.broker.is_connected()
    account = await harness.broker.get_account()
    assert account.account_id
    assert account.broker is harness.broker.broker_type
    assert account.as_of.tzinfo is not None


async def test_balances_add_up(harness: Harness) -> None:
    await harness.broker.place_order(OrderRequest(symbol="MSFT", side=OrderSide.BUY,
                                                  quantity=Decimal(3)))
    balances = await harness.broker.get_balances()
    assert isinstance(balances.cash, Decimal)
    assert balances.total_value == balances.cash + balances.market_value
    assert balances.buying_power >= 0
    positions = await harness.broker.get_positions()
    held = sum((p.market_value or Decimal(0) for p in positions), Decimal(0))
    assert held == balances.market_value


async def test_market_buy_moves_cash_and_position(harness: Harness) -> None:
    before = await harness.broker.get_balances()
    result = await harness.broker.place_order(
        OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(10)))
    assert result.success
    assert result.order_id
    order = await harness.broker.get_order(result.order_id)
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == 10
    assert order.average_fill_price is not None
    after = await harness.broker.get_balances()
    transactions = await harness.broker.get_transactions(
        order.submitted_at or after.as_of, after.as_of + MINUTE)
    fees = sum((t.fees for t in transactions if t.order_id == order.order_id), Decimal(0))
    spent = before.cash - after.cash
    assert spent == 10 * order.average_fill_price + fees
    positions = {p.symbol: p for p in await harness.broker.get_positions()}
    assert positions["AAPL"].quantity == 10
    assert positions["AAPL"].average_cost == order.average_fill_price


async def test_sell_closes_position_and_selling_more_is_refused(harness: Harness) -> None:
    await harness.broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=5))
    with pytest.raises(InvalidOrderError):
        await harness.broker.place_order(OrderRequest(symbol="KO", side="sell", quantity=6))
    sold = await harness.broker.place_order(OrderRequest(symbol="KO", side="sell", quantity=5))
    assert sold.status is OrderStatus.FILLED
    assert "KO" not in {p.symbol for p in await harness.broker.get_positions()}


async def test_limit_order_rests_then_fills_when_price_crosses(harness: Harness) -> None:
    await harness.market.set_price("NVDA", Decimal("140.00"))
    placed = await harness.broker.place_order(OrderRequest(
        symbol="NVDA", side="buy", quantity=4, order_type=OrderType.LIMIT,
        limit_price=Decimal("130.00"), time_in_force=TimeInForce.GTC))
    assert placed.status is OrderStatus.NEW
    open_orders = await harness.broker.get_orders(status=OrderStatus.NEW)
    assert placed.order_id in {o.order_id for o in open_orders}
    await harness.market.set_price("NVDA", Decimal("129.00"))
    await harness.market.advance(MINUTE)
    assert placed.order_id
    filled = await harness.broker.get_order(placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price is not None
    assert filled.average_fill_price <= Decimal("130.00")


async def test_modify_then_cancel(harness: Harness) -> None:
    await harness.market.set_price("JPM", Decimal("240.00"))
    placed = await harness.broker.place_order(OrderRequest(
        symbol="JPM", side="buy", quantity=2, order_type="limit", limit_price="200.00"))
    assert placed.order_id
    changed = await harness.broker.modify_order(placed.order_id,
                                                OrderModify(limit_price=Decimal("205.00")))
    assert changed.order_id
    if harness.broker.capabilities.modify is ModifyStyle.NATIVE:
        assert changed.order_id == placed.order_id
    else:
        assert changed.order_id != placed.order_id
        old = await harness.broker.get_order(placed.order_id)
        assert old.status is OrderStatus.REPLACED
    current = await harness.broker.get_order(changed.order_id)
    assert current.limit_price == Decimal("205.00")
    assert current.status is OrderStatus.NEW
    assert await harness.broker.cancel_order(changed.order_id)
    canceled = await harness.broker.get_order(changed.order_id)
    assert canceled.status is OrderStatus.CANCELED
    with pytest.raises(InvalidOrderError):
        await harness.broker.cancel_order(changed.order_id)


async def test_history_and_transactions_record_fills(harness: Harness) -> None:
    start = (await harness.broker.get_account()).as_of - MINUTE
    placed = await harness.broker.place_order(
        OrderRequest(symbol="PEP", side="buy", quantity=3))
    end = (await harness.broker.get_balances()).as_of + MINUTE
    history = await harness.broker.get_order_history(start, end)
    assert placed.order_id in {o.order_id for o in history}
    fills = [t for t in await harness.broker.get_transactions(start, end)
             if t.type is TransactionType.FILL and t.order_id == placed.order_id]
    assert sum((t.quantity or Decimal(0) for t in fills), Decimal(0)) == 3
    assert all(t.symbol == "PEP" and t.price for t in fills)


async def test_quotes_for_known_and_unknown_symbols(harness: Harness) -> None:
    quote = await harness.broker.get_quote("AAPL")
    assert quote.bid is not None
    assert quote.ask is not None
    assert quote.bid <= quote.ask
    assert quote.last is not None
    assert quote.last > 0
    quotes = await harness.broker.get_quotes(["AAPL", "MSFT"])
    assert set(quotes) == {"AAPL", "MSFT"}
    with pytest.raises(SymbolNotFoundError):
        await harness.broker.get_quote(UNKNOWN_SYMBOL)
    with pytest.raises(SymbolNotFoundError) as raised:
        await harness.broker.get_quotes(["AAPL", UNKNOWN_SYMBOL])
    assert UNKNOWN_SYMBOL in str(raised.value)


async def test_option_order_when_supported(harness: Harness) -> None:
    if not harness.broker.capabilities.options:
        pytest.skip(f"{harness.name} takes no option orders")
    symbol = await harness.market.option_symbol("AAPL")
    placed = await harness.broker.place_order(
        OrderRequest(symbol=symbol, side=OrderSide.BUY_TO_OPEN, quantity=1))
    assert placed.status is OrderStatus.FILLED
    positions = [p for p in await harness.broker.get_positions()
                 if p.asset_type is AssetType.OPTION]
    assert len(positions) == 1
    assert positions[0].quantity == 1
    assert positions[0].strike is not None


# --- refusals: typed, and nothing changes ---------------------------------------------


def test_invalid_order_is_refused_before_any_io() -> None:
    with pytest.raises(InvalidOrderError) as raised:
        OrderRequest(symbol="AAPL", side="buy", quantity=1, order_type="limit")
    assert raised.value.field == "limit_price"


async def test_unknown_symbol_is_refused(harness: Harness) -> None:
    before = await _state(harness)
    with pytest.raises(SymbolNotFoundError):
        await harness.broker.place_order(
            OrderRequest(symbol=UNKNOWN_SYMBOL, side="buy", quantity=1))
    assert await _state(harness) == before


async def test_insufficient_funds_is_refused(harness: Harness) -> None:
    before = await _state(harness)
    with pytest.raises(InsufficientFundsError):
        await harness.broker.place_order(
            OrderRequest(symbol="AAPL", side="buy", quantity=1_000_000))
    assert await _state(harness) == before


async def test_unknown_order_id_is_refused(harness: Harness) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(OrderNotFoundError):
        await harness.broker.get_order(missing)
    with pytest.raises(OrderNotFoundError):
        await harness.broker.cancel_order(missing)


async def test_closed_market(harness: Harness) -> None:
    await harness.market.close_market()
    before = await _state(harness)
    request = OrderRequest(symbol="AAPL", side="buy", quantity=1)
    if harness.rejects_when_closed:
        with pytest.raises(MarketClosedError) as raised:
            await harness.broker.place_order(request)
        assert raised.value.next_open is not None
        assert raised.value.next_open > (await harness.broker.get_balances()).as_of
        assert await _state(harness) == before
    else:
        queued = await harness.broker.place_order(request)
        assert queued.status in (OrderStatus.NEW, OrderStatus.PENDING_NEW)
        assert queued.filled_quantity == 0


# --- the interface exactly: plain is_connected, date ranges ---------------------------


async def test_is_connected_is_a_plain_bool_before_connect_and_after_disconnect(
        harness: Harness) -> None:
    assert not inspect.iscoroutinefunction(type(harness.broker).is_connected)
    assert harness.another is not None
    broker = harness.another()
    # The product spec's use: a plain truth test (a coroutine would always be true).
    if broker.is_connected():
        pytest.fail("a broker not yet connected says it is connected")
    assert broker.is_connected() is False
    await broker.connect()
    assert broker.is_connected() is True
    await broker.disconnect()
    assert broker.is_connected() is False
    await broker.disconnect()  # idempotent
    assert broker.is_connected() is False


async def test_history_and_transactions_take_dates(harness: Harness) -> None:
    placed = await harness.broker.place_order(
        OrderRequest(symbol="PEP", side="buy", quantity=2))
    # "Today" is the broker's own: each harness runs a simulated clock (SESSION_START).
    today = (await harness.broker.get_account()).as_of.astimezone(UTC).date()
    history = await harness.broker.get_order_history(today, today)
    assert placed.order_id in {o.order_id for o in history}
    fills = [t for t in await harness.broker.get_transactions(today, today)
             if t.type is TransactionType.FILL and t.order_id == placed.order_id]
    assert sum((t.quantity or Decimal(0) for t in fills), Decimal(0)) == 2
    yesterday = today - timedelta(days=1)
    earlier = await harness.broker.get_order_history(yesterday, yesterday)
    assert placed.order_id not in {o.order_id for o in earlier}
    assert not [t for t in await harness.broker.get_transactions(yesterday, yesterday)
                if t.order_id == placed.order_id]
    with pytest.raises(InvalidOrderError):
        await harness.broker.get_order_history(today, yesterday)
