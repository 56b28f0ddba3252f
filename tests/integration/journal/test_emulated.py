"""Ambiguous writes against real emulators over loopback: a dropped answer is resolved by
asking the broker, an order the broker places after the client gave up (the emulators'
``late_placement`` fault) and an unreadable acknowledgement (``malformed_ack``) never
produce a second order or advice to resend, and exactly one order exists at the
emulator."""

from __future__ import annotations

import asyncio

import pytest

from brokerlink.bootstrap import order_journal
from brokerlink.core.enums import OrderSide, OrderStatus
from brokerlink.core.errors import RequestTimeoutError
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import Order, OrderRequest, OrderResult
from brokerlink.manager.journal_feed import JournalFeed, is_order_event
from brokerlink.manager.sync import SyncEngine, SyncTarget
from brokerlink.storage.engine import Database
from tests.integration.journal.brokers import Lookup
from tests.integration.journal.rigs import LOOKUP_PATHS, ORDER_PATHS, emulator_accounts


@pytest.mark.parametrize("kind", ["alpaca", "tradier"])
async def test_dropped_answer_is_resolved_by_client_order_id(database: Database,
                                                             kind: str) -> None:
    async with emulator_accounts(alpaca=int(kind == "alpaca"),
                                 tradier=int(kind == "tradier")) as [account]:
        await account.fault(kind="drop_after", method="POST", path=ORDER_PATHS[kind],
                            count=1)
        journal = order_journal(database)
        order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=2)
        result = await journal.submit(connection_id=account.connection_id,
                                      account_id=account.account_id,
                                      broker=account.broker, order=order,
                                      idempotency_key="once")
        placed = await account.placed()
        assert {k: coid for k, (coid, _) in placed.items()} == {
            result.order_id: order.client_order_id}
        [intent] = await journal.intents()
        assert intent.resolution == "lookup"
        assert intent.broker_order_id == result.order_id
        assert result.order_id is not None
        assert intent.status is (await account.broker.get_order(result.order_id)).status
        # A retry under the same key: same answer, still one order.
        again = await journal.submit(connection_id=account.connection_id,
                                     account_id=account.account_id, broker=account.broker,
                                     order=order.model_copy(update={"client_order_id": "r1"}),
                                     idempotency_key="once")
        assert again == result
        assert len(await account.placed()) == 1


# --- issue 19 A and B over loopback -------------------------------------------------

RESEND_ADVICE = ("new idempotency key", "submit it again", "try again")
GIVE_UP = 0.5
"""The client's read timeout in these tests, in seconds (the adapters' own is 15 s)."""


class GivesUp(Lookup):
    """The adapter with a short read timeout: ``place_order`` gives up after ``after``
    seconds with the ``RequestTimeoutError`` the transport raises on a read timeout;
    the request stays with the broker, which may place it later."""

    def __init__(self, inner: BrokerInterface, after: float = GIVE_UP) -> None:
        super().__init__(inner)
        self.after = after

    async def place_order(self, order: OrderRequest) -> OrderResult:
        self.placed += 1
        try:
            async with asyncio.timeout(self.after):
                return await self.inner.place_order(order)
        except TimeoutError as exc:
            raise RequestTimeoutError("read timeout (test: the client gave up)",
                                      client_order_id=order.client_order_id) from exc


def _no_resend_advice(error: RequestTimeoutError) -> None:
    text = error.message.lower()
    assert not [advice for advice in RESEND_ADVICE if advice in text], text
    assert "do not resend" in text


async def test_late_placement_on_alpaca_is_proved_by_a_same_id_resend(
        database: Database) -> None:
    """Alpaca refuses a client order id it has seen: the journal's resend under the same
    id is either the one order or refused; the late original is then refused."""
    async with emulator_accounts(alpaca=1) as [account]:
        held = await account.fault(kind="late_placement", method="POST",
                                   path=ORDER_PATHS["alpaca"], delay=60, count=1)
        broker = GivesUp(account.broker)
        journal = order_journal(database)
        order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1)
        result = await journal.submit(connection_id=account.connection_id,
                                      account_id=account.account_id, broker=broker,
                                      order=order, idempotency_key="late")
        [intent] = await journal.intents()
        assert (intent.resolution, intent.broker_order_id) == ("resend", result.order_id)
        # The held original reaches the engine now: refused as a duplicate.
        released = await account.release(held)
        assert (released["released"], released["placed"]) == (1, 1)
        placed = await account.placed()
        assert {k: coid for k, (coid, _) in placed.items()} == {
            result.order_id: order.client_order_id}              # 0 duplicates


async def test_late_placement_on_tradier_stays_unknown_and_the_sync_attaches_it(
        database: Database) -> None:
    """Tradier cannot prove absence: the caller is told the truth (no resend advice),
    and the live sync attaches the late order to its intent by client order id."""
    async with emulator_accounts(tradier=1) as [account]:
        held = await account.fault(kind="late_placement", method="POST",
                                   path=ORDER_PATHS["tradier"], delay=60, count=1)
        broker = GivesUp(account.broker)
        journal = order_journal(database)
        engine = SyncEngine([SyncTarget(account.connection_id, account.broker)])
        feed = JournalFeed(engine.subscribe(is_order_event), journal)
        order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1)
        arrivals = engine.subscribe(
            lambda e: is_order_event(e) and isinstance(e.payload, Order)
            and e.payload.client_order_id == order.client_order_id
            and e.payload.status is OrderStatus.FILLED)
        feed.start()
        try:
            async with engine:
                await engine.settled(account.connection_id, 20)
                with pytest.raises(RequestTimeoutError) as unknown:
                    await journal.submit(connection_id=account.connection_id,
                                         account_id=account.account_id, broker=broker,
                                         order=order, idempotency_key="late")
                _no_resend_advice(unknown.value)
                [intent] = await journal.intents()
                assert (intent.status, intent.not_sent) == (OrderStatus.UNKNOWN, False)
                assert await account.placed() == {}
                # A restart's reconcile inside the window: still not "not sent".
                report = await order_journal(database).reconcile(
                    {account.connection_id: account.broker})
                assert [r.client_order_id for r in report.unresolved] == [
                    order.client_order_id]
                await account.release(held)
                async with arrivals, asyncio.timeout(20):
                    await arrivals.get()
                await feed.drain(20)
        finally:
            await feed.stop()
        placed = await account.placed()
        [(order_id, (coid, raw))] = placed.items()               # 0 duplicates
        [intent] = await journal.intents()
        assert (coid, raw) == (order.client_order_id, "filled")
        assert (intent.broker_order_id, intent.status) == (order_id, OrderStatus.FILLED)
        assert broker.placed == 1


@pytest.mark.parametrize("kind", ["alpaca", "tradier"])
async def test_malformed_acknowledgement_is_ambiguous(database: Database, kind: str) -> None:
    """A 200 whose body is ``{}``: the order was placed. With the lookup failing too, the
    intent is unknown and the caller is not told to retry under a new key; once the
    broker can be asked, the one order is found."""
    async with emulator_accounts(alpaca=int(kind == "alpaca"),
                                 tradier=int(kind == "tradier")) as [account]:
        await account.fault(kind="malformed_ack", method="POST", path=ORDER_PATHS[kind],
                            count=1)
        await account.fault(kind="error", status=503, method="GET",
                            path=LOOKUP_PATHS[kind])
        journal = order_journal(database)
        order = OrderRequest(symbol="MSFT", side=OrderSide.BUY, quantity=1)
        with pytest.raises(RequestTimeoutError) as unknown:
            await journal.submit(connection_id=account.connection_id,
                                 account_id=account.account_id, broker=account.broker,
                                 order=order, idempotency_key="garbled")
        _no_resend_advice(unknown.value)
        [intent] = await journal.intents()
        assert intent.status is OrderStatus.UNKNOWN
        await account.clear_faults()
        report = await journal.reconcile({account.connection_id: account.broker})
        [resolved] = report.resolved
        placed = await account.placed()
        assert list(placed) == [resolved.broker_order_id]        # 0 duplicates
        again = await journal.submit(connection_id=account.connection_id,
                                     account_id=account.account_id,
                                     broker=account.broker, order=order,
                                     idempotency_key="garbled")
        assert again.order_id == resolved.broker_order_id
        assert len(await account.placed()) == 1
