"""A paper broker with a store: the account outlives the broker, brokers sharing a store
see each other's changes, and a lost save race re-applies the change exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from brokerlink.adapters.paper import (
    MemoryPaperStateStore,
    PaperBroker,
    PaperStateConflictError,
    PaperStateMissingError,
    StoredPaperState,
)
from brokerlink.adapters.paper import broker as paper_broker
from brokerlink.core.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from brokerlink.core.errors import (
    BrokerUnavailableError,
    InsufficientFundsError,
    OrderNotFoundError,
    RequestTimeoutError,
)
from brokerlink.core.models import OrderRequest
from brokerlink.sim.engine import SimEngine, utc
from brokerlink.sim.events import EventKind
from brokerlink.sim.snapshot import SnapshotError, decode

MONDAY = utc(2026, 11, 23, 15, 0)  # 10:00 in New York: the session is open


def buy(symbol: str, quantity: str, **kwargs: object) -> OrderRequest:
    return OrderRequest.model_validate({"symbol": symbol, "side": OrderSide.BUY,
                                        "quantity": Decimal(quantity), **kwargs})


def resting(symbol: str = "KO") -> OrderRequest:
    return buy(symbol, "1", order_type=OrderType.LIMIT, limit_price=Decimal(1),
               time_in_force=TimeInForce.GTC)


class SharedStore:
    """One process's view of a shared ``MemoryPaperStateStore``: it yields to the loop
    in every call (as a database does) and can run something just before a save, or
    fail a save, to stage races and lost answers."""

    def __init__(self, shared: MemoryPaperStateStore) -> None:
        self.shared = shared
        self.before_save: Callable[[], Awaitable[None]] | None = None
        self.fail_save: tuple[BaseException, bool] | None = None  # (error, after writing?)
        self.conflicts = 0

    async def version(self) -> int | None:
        await asyncio.sleep(0)
        return await self.shared.version()

    async def load(self) -> StoredPaperState | None:
        await asyncio.sleep(0)
        return await self.shared.load()

    async def save(self, state: str, *, expected_version: int) -> int:
        await asyncio.sleep(0)
        hook, self.before_save = self.before_save, None
        if hook is not None:
            await hook()
        failure, self.fail_save = self.fail_save, None
        if failure is not None:
            error, written = failure
            if written:
                await self.shared.save(state, expected_version=expected_version)
            raise error
        try:
            return await self.shared.save(state, expected_version=expected_version)
        except PaperStateConflictError:
            self.conflicts += 1
            raise


def paper(store: SharedStore | MemoryPaperStateStore, **kwargs: object) -> PaperBroker:
    options: dict[str, object] = {"cash": Decimal(100_000), "market": "always_open",
                                  "seed": 3, "start": MONDAY, "account_id": "PAPER-1",
                                  "connection_id": "conn-p"}
    options.update(kwargs)
    return PaperBroker(store=store, **options)  # type: ignore[arg-type]


def stored_orders(shared: MemoryPaperStateStore) -> list[str]:
    assert shared.stored is not None
    return [o["order_id"] for o in decode(shared.stored.state)["orders"]]


async def test_connect_opens_the_account_once_and_later_brokers_continue_it() -> None:
    shared = MemoryPaperStateStore()
    async with paper(shared) as first:
        assert shared.saves == 1
        assert (await first.get_balances()).cash == Decimal(100_000)
        await first.place_order(buy("AAPL", "3"))
    # Other settings: the stored account wins (it was opened with the first ones).
    async with paper(shared, cash=Decimal(5), account_id="PAPER-2") as later:
        assert later.account_id == "PAPER-1"
        [position] = await later.get_positions()
        assert (position.symbol, position.quantity) == ("AAPL", Decimal(3))
        assert (await later.get_balances()).cash < Decimal(100_000)
    assert shared.saves == 2


async def test_each_broker_sees_what_the_other_did() -> None:
    shared = MemoryPaperStateStore()
    async with paper(SharedStore(shared)) as one, paper(SharedStore(shared)) as two:
        placed = await one.place_order(resting())
        assert placed.order_id is not None
        assert [o.order_id for o in await two.get_orders()] == [placed.order_id]
        found = await two.get_order_by_client_id(placed.client_order_id or "")
        assert found.order_id == placed.order_id
        assert await two.cancel_order(placed.order_id) is True
        assert (await one.get_order(placed.order_id)).status is OrderStatus.CANCELED
        await two.set_price("KO", Decimal("70.00"))
        assert (await one.get_quote("KO")).last == Decimal("70.00")
        await one.advance(timedelta(hours=2))
        await two.get_account()
        assert two.engine.now() == MONDAY + timedelta(hours=2)


async def test_reads_save_nothing_and_refusals_leave_the_store_alone() -> None:
    shared = MemoryPaperStateStore()
    async with paper(shared) as broker:
        saved = shared.saves
        await broker.get_balances()
        await broker.get_positions()
        await broker.get_quotes(["AAPL", "KO"])
        with pytest.raises(InsufficientFundsError):
            await broker.place_order(buy("AAPL", "100000"))
        with pytest.raises(OrderNotFoundError):
            await broker.cancel_order("nope")
        assert shared.saves == saved
        assert await broker.get_orders() == []


async def test_a_lost_race_applies_the_order_again_on_the_newer_state() -> None:
    shared = MemoryPaperStateStore()
    mine, theirs = SharedStore(shared), SharedStore(shared)
    async with paper(mine) as one, paper(theirs) as two:
        events = one.subscribe()
        other: list[str | None] = []

        async def the_other_process_saves_first() -> None:
            other.append((await two.place_order(resting("F"))).order_id)

        mine.before_save = the_other_process_saves_first
        placed = await one.place_order(resting("KO"))
        assert placed.order_id is not None
        assert placed.order_id not in other
        # Each order stored once; the retried one after the other's.
        assert stored_orders(shared) == [other[0], placed.order_id]
        # Only the saved attempt was announced; the thrown-away one (which had drawn the
        # same id as the other process's order) never was.
        event = events.get_nowait()
        assert event is not None
        assert event.kind is EventKind.NEW
        assert event.order is not None
        assert event.order.order_id == placed.order_id
        assert events.get_nowait() is None
        assert [o.symbol for o in await one.get_orders()] == ["KO", "F"]


async def test_concurrent_orders_from_two_brokers_all_persist_once() -> None:
    shared = MemoryPaperStateStore()
    stores = SharedStore(shared), SharedStore(shared)
    async with paper(stores[0]) as one, paper(stores[1]) as two:
        requests = [(broker, resting(symbol)) for symbol in ("KO", "F", "T", "BAC", "INTC")
                    for broker in (one, two)]
        results = await asyncio.gather(*(b.place_order(r) for b, r in requests))
        ids = [r.order_id for r in results]
        assert len(set(ids)) == len(ids) == 10
        assert sorted(stored_orders(shared)) == sorted(i for i in ids if i)
        seen = {o.client_order_id for o in await two.get_orders()}
        assert seen == {r.client_order_id for _, r in requests}
    assert sum(store.conflicts for store in stores) > 0  # the races did happen


async def test_an_unanswered_save_is_ambiguous_and_the_next_call_knows() -> None:
    shared = MemoryPaperStateStore()
    store = SharedStore(shared)
    async with paper(store) as broker:
        for written in (True, False):
            order = resting()
            store.fail_save = (OSError("connection reset"), written)
            with pytest.raises(RequestTimeoutError) as unknown:
                await broker.place_order(order)
            assert unknown.value.client_order_id == order.client_order_id
            assert unknown.value.broker == "paper"
            if written:
                found = await broker.get_order_by_client_id(order.client_order_id)
                assert found.status is OrderStatus.NEW
            else:
                with pytest.raises(OrderNotFoundError):
                    await broker.get_order_by_client_id(order.client_order_id)
        assert len(stored_orders(shared)) == 1


async def test_losing_every_race_gives_up_having_changed_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paper_broker, "SAVE_ATTEMPTS", 3)
    shared = MemoryPaperStateStore()
    store = SharedStore(shared)
    async with paper(store) as broker:
        async def always_conflict(state: str, *, expected_version: int) -> int:
            raise PaperStateConflictError("someone else saved", broker="paper")

        monkeypatch.setattr(store, "save", always_conflict)
        with pytest.raises(BrokerUnavailableError, match="nothing was changed"):
            await broker.place_order(resting())
        assert await broker.get_orders() == []


async def test_a_removed_account_is_reported_not_reopened() -> None:
    shared = MemoryPaperStateStore()
    async with paper(shared) as broker:
        shared.stored = None
        with pytest.raises(PaperStateMissingError, match="add a new paper connection"):
            await broker.get_balances()
        with pytest.raises(PaperStateMissingError):
            await broker.place_order(resting())
        assert shared.stored is None


async def test_an_unreadable_stored_account_fails_connect_with_a_typed_error() -> None:
    shared = MemoryPaperStateStore()
    shared.stored = StoredPaperState(4, '{"format": 99}')
    with pytest.raises(SnapshotError, match="format 99") as refused:
        await paper(shared).connect()
    assert (refused.value.broker, refused.value.connection_id) == ("paper", "conn-p")


@pytest.mark.parametrize("damaged", ["", "null", "[]", "{}", '{"format": 1, "acc',
                                     "[" * 100_000 + "]" * 100_000])
async def test_a_damaged_stored_account_is_a_snapshot_error(damaged: str) -> None:
    shared = MemoryPaperStateStore()
    shared.stored = StoredPaperState(4, damaged)
    with pytest.raises(SnapshotError):
        await paper(shared).connect()


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_the_market_catches_up_with_the_wall_clock() -> None:
    shared = MemoryPaperStateStore()
    clock = WallClock(MONDAY)
    async with paper(shared, market="exchange", wall_clock=clock) as broker:
        day_order = await broker.place_order(buy("KO", "1", order_type=OrderType.LIMIT,
                                                 limit_price=Decimal(1)))
        saves = shared.saves
        clock.now += timedelta(seconds=50)  # less than a price step: nothing moves
        await broker.get_balances()
        assert (broker.engine.now(), shared.saves) == (MONDAY, saves)
        clock.now += timedelta(hours=1)
        await broker.get_balances()  # a read that catches up saves the market it moved
        assert broker.engine.now() == clock.now
        assert shared.saves == saves + 1
        clock.now += timedelta(days=400)
        await broker.get_positions()
        assert broker.engine.now() == clock.now
        assert (await broker.get_order(day_order.order_id or "")).status is \
            OrderStatus.EXPIRED
        # Coarse steps across the gap: a minute's steps would be over half a million.
        assert broker.engine.prices.state().steps < 2 * paper_broker.CATCH_UP_STEPS


def test_a_store_and_an_engine_do_not_mix() -> None:
    with pytest.raises(ValueError, match="either engine or store"):
        PaperBroker(SimEngine(), store=MemoryPaperStateStore())
    with pytest.raises(ValueError, match="wall_clock is for a stored account"):
        PaperBroker(wall_clock=WallClock(MONDAY))


async def test_a_failing_store_is_a_typed_error_not_a_crash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shared = MemoryPaperStateStore()
    store = SharedStore(shared)
    clock = WallClock(MONDAY)
    async with paper(store, wall_clock=clock) as broker:
        async def unreachable() -> int | None:
            raise OSError("database is down")

        with monkeypatch.context() as patched:
            patched.setattr(store, "version", unreachable)
            with pytest.raises(BrokerUnavailableError, match="store failed") as down:
                await broker.get_balances()
            assert down.value.broker == "paper"
        # A read whose catch-up cannot be saved fails the same way, and changes nothing.
        clock.now += timedelta(hours=1)
        store.fail_save = (OSError("disk full"), False)
        with pytest.raises(BrokerUnavailableError):
            await broker.get_positions()
        assert (await broker.get_account()).account_id == "PAPER-1"
        assert broker.engine.now() == clock.now
