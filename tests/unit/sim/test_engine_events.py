"""Every order and cash change is an event on an async stream, in order."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import OrderStatus
from brokerlink.core.errors import InsufficientFundsError
from brokerlink.core.models import OrderModify
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.events import EventKind, SimEvent, Subscription
from tests.unit.sim.engine_helpers import CLOSE, funded, make_engine, order, pin

K = EventKind


@pytest.fixture
def engine() -> SimEngine:
    e = make_engine()
    pin(e, "AAPL", "10.00")
    return e


def drain(subscription: Subscription) -> list[SimEvent]:
    events: list[SimEvent] = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


async def test_fill_events_carry_the_fill_and_the_order_after_it(engine: SimEngine) -> None:
    acct = funded(engine)
    async with engine.subscribe(acct) as stream:
        placed = engine.place_order(acct, order("AAPL", "buy", 5000))
        first = await stream.get()
        assert (first.kind, first.order and first.order.status) == (K.NEW, OrderStatus.NEW)
        partial = await stream.get()
        assert partial.kind is K.PARTIAL_FILL
        assert (partial.fill_quantity, partial.fill_price) == (Decimal(3000), Decimal("10.01"))
        assert partial.position_quantity == Decimal(3000)
        assert partial.order is not None
        assert partial.order.status is OrderStatus.PARTIALLY_FILLED
        engine.advance(engine.now().replace(minute=1) - engine.now())
        last = await stream.get()
        assert (last.kind, last.fill_quantity, last.position_quantity) == (
            K.FILL, Decimal(2000), Decimal(5000))
        assert last.order is not None
        assert last.order.order_id == placed.order_id
        assert last.order.status is OrderStatus.FILLED
        assert first.seq < partial.seq < last.seq
    assert stream.get_nowait() is None


async def test_async_iteration_ends_when_the_subscription_closes(engine: SimEngine) -> None:
    acct = funded(engine)
    stream = engine.subscribe(acct)
    engine.place_order(acct, order("AAPL", "buy", 1))
    stream.close()
    kinds = [event.kind async for event in stream]
    assert kinds == [K.NEW, K.FILL]


def test_cancel_replace_and_expiry_events(engine: SimEngine) -> None:
    acct = funded(engine)
    stream = engine.subscribe(acct)
    a = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="9"))
    engine.cancel_order(acct, a.order_id)
    b = engine.place_order(acct, order("AAPL", "buy", 10, limit_price="9"))
    c = engine.modify_order(acct, b.order_id, OrderModify(limit_price=Decimal("9.50")),
                            style=ModifyStyle.CANCEL_REPLACE)
    engine.modify_order(acct, c.order_id, OrderModify(limit_price=Decimal("9.60")))
    engine.advance_to(CLOSE)
    events = [(e.kind, e.order.order_id if e.order else None) for e in drain(stream)]
    assert events == [
        (K.NEW, a.order_id), (K.PENDING_CANCEL, a.order_id), (K.CANCELED, a.order_id),
        (K.NEW, b.order_id), (K.REPLACED, b.order_id), (K.NEW, c.order_id),
        (K.NEW, c.order_id),  # the native change
        (K.EXPIRED, c.order_id),
    ]


def test_cash_movements_are_events(engine: SimEngine) -> None:
    stream = engine.subscribe()
    acct = funded(engine, "5000")
    engine.fund(acct, Decimal(-100))
    events = drain(stream)
    assert [(e.kind, e.amount, e.order) for e in events] == [
        (K.CASH, Decimal(5000), None), (K.CASH, Decimal(-100), None)]


def test_subscriptions_filter_by_account_and_refusals_emit_nothing(engine: SimEngine) -> None:
    one, two = funded(engine, account_id="ONE"), funded(engine, "100", account_id="TWO")
    everything, only_two = engine.subscribe(), engine.subscribe("TWO")
    engine.place_order(one, order("AAPL", "buy", 1))
    with pytest.raises(InsufficientFundsError):
        engine.place_order(two, order("AAPL", "buy", 100))
    assert drain(only_two) == []
    assert [e.account_id for e in drain(everything)] == ["ONE", "ONE"]
    engine.place_order(two, order("AAPL", "buy", 1))
    assert [e.kind for e in drain(only_two)] == [K.NEW, K.FILL]


def test_a_closed_subscription_hears_nothing_more(engine: SimEngine) -> None:
    acct = funded(engine)
    stream = engine.subscribe(acct)
    stream.close()
    engine.place_order(acct, order("AAPL", "buy", 1))
    assert stream.pending() == 1  # only the end-of-stream marker
    assert not engine.events.has_listeners


async def test_a_finished_stream_stays_finished(engine: SimEngine) -> None:
    stream = engine.subscribe()
    stream.close()
    assert [event async for event in stream] == []
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(stream.get(), timeout=5)  # a guard: it must not block


def test_a_failing_listener_does_not_break_the_engine(engine: SimEngine,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    acct = funded(engine)
    heard: list[EventKind] = []

    def broken(event: SimEvent) -> None:
        raise RuntimeError("listener bug")

    engine.events.add_listener(broken)
    engine.events.add_listener(lambda event: heard.append(event.kind))
    placed = engine.place_order(acct, order("AAPL", "buy", 1))
    assert placed.status is OrderStatus.FILLED
    assert heard == [K.NEW, K.FILL]
    assert engine.balances(acct).cash == Decimal("99989.99")
    assert "listener bug" in caplog.text
