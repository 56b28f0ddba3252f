"""The market-closed policy and the durable queue, on SQLite and PostgreSQL, with a paper
broker on the NYSE calendar whose simulated clock the tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from brokerlink.adapters.paper import PaperBroker
from brokerlink.bootstrap import order_stores
from brokerlink.core.enums import OrderSide, OrderType
from brokerlink.core.errors import InvalidOrderError, MarketClosedError, OrderNotFoundError
from brokerlink.core.models import OrderRequest, OrderResult
from brokerlink.manager.journal import OrderJournal
from brokerlink.manager.market_hours import (
    ClosedMarketGate,
    ClosedMarketPolicy,
    MarketHours,
    OrderQueue,
    QueuedOrder,
)
from brokerlink.storage.engine import Database
from brokerlink.storage.order_queue import QueueStatus

CONN = "paper-1"
WEDNESDAY_AFTER_CLOSE = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)  # 16:30 New York
THANKSGIVING_NOON = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
FRIDAY_OPEN = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)             # 09:30 New York


class Rig:
    def __init__(self, database: Database, broker: PaperBroker) -> None:
        self.database = database
        self.broker = broker
        self.restart()

    def restart(self) -> None:
        """New journal, hours and queue objects on the same database: a process restart."""
        clock = self.broker.engine.now
        self.hours = MarketHours(clock=clock)
        stores = order_stores(self.database)
        self.journal = OrderJournal(stores.intents, clock=clock)
        self.queue = OrderQueue(stores.queue, self.journal, self.hours)
        self.gate = ClosedMarketGate(self.hours, self.journal, self.queue)

    @property
    def brokers(self) -> dict[str, PaperBroker]:
        return {CONN: self.broker}

    async def advance_to(self, at: datetime) -> None:
        self.broker.engine.advance_to(at)

    async def enqueue(self, order: OrderRequest, **extra: object) -> QueuedOrder:
        queued = await self.gate.place(connection_id=CONN, account_id=self.broker.account_id,
                                       broker=self.broker, order=order,
                                       policy=ClosedMarketPolicy.QUEUE)
        assert isinstance(queued, QueuedOrder)
        return queued


@pytest.fixture
async def rig(database: Database) -> Rig:
    broker = PaperBroker(start=WEDNESDAY_AFTER_CLOSE, cash=1_000_000)
    await broker.connect()
    return Rig(database, broker)


def buy(symbol: str = "AAPL", quantity: int = 5) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity)


async def test_queued_wednesday_night_is_released_friday_not_thanksgiving(rig: Rig) -> None:
    queued = await rig.enqueue(buy())
    assert queued.release_at == FRIDAY_OPEN
    assert queued.reference_price is not None
    await rig.advance_to(THANKSGIVING_NOON)
    assert await rig.queue.release_due(rig.brokers) == []
    rig.restart()   # queued orders survive a restart
    assert [q.id for q in await rig.queue.list(statuses=[QueueStatus.QUEUED])] == [queued.id]
    await rig.advance_to(FRIDAY_OPEN + timedelta(minutes=1))
    [outcome] = await rig.queue.release_due(rig.brokers)
    assert outcome.status is QueueStatus.RELEASED
    assert isinstance(outcome.result, OrderResult)
    [placed] = await rig.broker.get_orders()
    assert (placed.order_id, placed.client_order_id) == (outcome.result.order_id,
                                                         queued.order.client_order_id)
    # Released again (or by a restarted process): nothing more is sent.
    assert await rig.queue.release_due(rig.brokers) == []
    assert len(await rig.broker.get_orders()) == 1


async def test_release_after_a_crash_mid_release_sends_nothing_twice(rig: Rig) -> None:
    queued = await rig.enqueue(buy("MSFT"))
    await rig.advance_to(FRIDAY_OPEN + timedelta(minutes=1))
    # The crashed release got as far as the journal: sent, but the queue row not updated.
    sent = await rig.journal.submit(connection_id=CONN, account_id=rig.broker.account_id,
                                    broker=rig.broker, order=queued.order,
                                    idempotency_key=queued.idempotency_key)
    rig.restart()
    [outcome] = await rig.queue.release_due(rig.brokers)
    assert (outcome.status, outcome.result) == (QueueStatus.RELEASED, sent)
    assert len(await rig.broker.get_orders()) == 1


async def test_expired_and_collared_orders_are_refused_not_sent(rig: Rig) -> None:
    late = await rig.queue.enqueue(
        connection_id=CONN, account_id=rig.broker.account_id, order=buy("KO"),
        broker=rig.broker, expires_at=FRIDAY_OPEN + timedelta(minutes=5))
    quote = await rig.broker.get_quote("PEP")
    assert quote.last is not None
    moved = await rig.queue.enqueue(
        connection_id=CONN, account_id=rig.broker.account_id, order=buy("PEP"),
        reference_price=quote.last * 2, collar_pct=Decimal(3))
    await rig.advance_to(FRIDAY_OPEN + timedelta(minutes=10))
    outcomes = {o.queued.id: o for o in await rig.queue.release_due(rig.brokers)}
    assert outcomes[late.id].status is QueueStatus.EXPIRED
    assert outcomes[moved.id].status is QueueStatus.REFUSED
    assert "collar" in (outcomes[moved.id].message or "")
    assert await rig.broker.get_orders() == []


async def test_expiry_before_the_open_is_refused_at_enqueue(rig: Rig) -> None:
    with pytest.raises(InvalidOrderError, match="before the next open"):
        await rig.queue.enqueue(connection_id=CONN, account_id=rig.broker.account_id,
                                order=buy(), expires_at=THANKSGIVING_NOON)


async def test_cancel_takes_it_out_of_the_queue(rig: Rig) -> None:
    queued = await rig.enqueue(buy())
    canceled = await rig.queue.cancel(queued.id)
    assert canceled.status is QueueStatus.CANCELED
    with pytest.raises(InvalidOrderError, match="no longer waiting"):
        await rig.queue.cancel(queued.id)
    with pytest.raises(OrderNotFoundError):
        await rig.queue.cancel("missing")
    await rig.advance_to(FRIDAY_OPEN + timedelta(minutes=1))
    assert await rig.queue.release_due(rig.brokers) == []
    assert await rig.broker.get_orders() == []


async def test_reject_policy_says_when_the_market_opens(rig: Rig) -> None:
    with pytest.raises(MarketClosedError) as closed:
        await rig.gate.place(connection_id=CONN, account_id=rig.broker.account_id,
                             broker=rig.broker, order=buy())
    assert closed.value.next_open == FRIDAY_OPEN
    assert await rig.journal.intents() == []


async def test_extended_policy_sends_limit_orders_after_hours(rig: Rig) -> None:
    limit = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1,
                         order_type=OrderType.LIMIT, limit_price=Decimal("1.00"))
    result = await rig.gate.place(connection_id=CONN, account_id=rig.broker.account_id,
                                  broker=rig.broker, order=limit,
                                  policy=ClosedMarketPolicy.EXTENDED)
    assert isinstance(result, OrderResult)
    assert result.order_id is not None
    assert (await rig.broker.get_order(result.order_id)).extended_hours
    # A market order cannot go extended: the fallback (REJECT here) applies.
    with pytest.raises(MarketClosedError):
        await rig.gate.place(connection_id=CONN, account_id=rig.broker.account_id,
                             broker=rig.broker, order=buy(),
                             policy=ClosedMarketPolicy.EXTENDED)


@pytest.mark.parametrize("policy", list(ClosedMarketPolicy))
async def test_idempotency_key_outside_the_rule_is_refused_before_queueing(
        rig: Rig, policy: ClosedMarketPolicy) -> None:
    """Issue 19 item 8 on the market-closed path: a key of 100,000 characters is refused
    before the order is queued, sent or journaled, whatever the policy."""
    with pytest.raises(InvalidOrderError, match="1 to 255 printable ASCII") as refused:
        await rig.gate.place(connection_id=CONN, account_id=rig.broker.account_id,
                             broker=rig.broker, order=buy(), policy=policy,
                             idempotency_key="k" * 100_000)
    assert refused.value.field == "idempotency_key"
    assert await rig.queue.list() == []
    assert await rig.journal.intents() == []
    assert await rig.broker.get_orders() == []
