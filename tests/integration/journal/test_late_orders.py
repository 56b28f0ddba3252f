"""Issue 19 A and B on the journal: a broker that places an order after the client gave
up, an answer that cannot be read, and idempotency keys outside the rule.

The broker is the paper engine behind ``Late`` (tests/integration/journal/brokers.py),
which holds a request instead of placing it and places it when the test says: the
journal's own lookups meanwhile find nothing, exactly as against a slow broker. The
journal's clock is a ``Clock`` the test moves, so "after the late-order window" is a
step, not a wait. The same scenarios against the emulators over loopback are in
``test_emulated.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel

from brokerlink.adapters.paper import PaperBroker
from brokerlink.bootstrap import order_journal
from brokerlink.core.enums import BrokerType, OrderSide, OrderStatus
from brokerlink.core.errors import (
    BrokerConnectionError,
    DuplicateOrderError,
    InvalidOrderError,
    Recovery,
    RequestTimeoutError,
    UnreadableAcknowledgementError,
)
from brokerlink.core.models import OrderRequest, OrderResult
from brokerlink.core.values import utc_now
from brokerlink.manager.journal import OrderJournal
from brokerlink.storage.engine import Database
from tests.contract.harness import SESSION_START
from tests.integration.journal.brokers import Late, Lookup
from tests.integration.journal.intents import insert_crashed_intent

CONN = "conn-late"
WINDOW = timedelta(minutes=2)
REMOTE = BrokerType("tradier")
"""A broker that cannot prove absence by a resend (no duplicate refusal)."""
DEDUPING = BrokerType("alpaca")
"""A broker that refuses a client order id it has seen (the resend proof)."""
RESEND_ADVICE = ("new idempotency key", "submit it again", "try again")


class Clock:
    """The journal's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


async def paper() -> PaperBroker:
    broker = PaperBroker(market="always_open", start=SESSION_START, cash=1_000_000)
    await broker.connect()
    return broker


def buy(symbol: str = "AAPL", quantity: int = 1) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity)


def journal(database: Database, clock: Clock) -> OrderJournal:
    # The paper engine is in-process (window 0); posing as a remote broker, the
    # journal uses the remote broker's window, made explicit here.
    return order_journal(database, clock=clock, late_order_window=WINDOW)


def assert_no_resend_advice(error: RequestTimeoutError) -> None:
    assert error.recovery is Recovery.RECONCILE
    text = error.message.lower()
    assert not [advice for advice in RESEND_ADVICE if advice in text], text
    assert "do not resend" in text


async def test_late_order_is_not_declared_not_sent_and_attaches(database: Database) -> None:
    inner = await paper()
    broker = Late(inner, broker_type=REMOTE)
    clock = Clock()
    book = journal(database, clock)
    order = buy()
    with pytest.raises(RequestTimeoutError) as unknown:
        await book.submit(connection_id=CONN, account_id=inner.account_id, broker=broker,
                          order=order, idempotency_key="slow")
    assert_no_resend_advice(unknown.value)
    assert unknown.value.client_order_id == order.client_order_id
    [intent] = await book.intents()
    assert (intent.status, intent.not_sent) == (OrderStatus.UNKNOWN, False)
    # Looked up again inside the window: still nothing, still unknown (not "not sent").
    clock.advance(WINDOW / 2)
    report = await book.reconcile({CONN: broker})
    assert [r.client_order_id for r in report.unresolved] == [order.client_order_id]
    assert not report.not_sent
    # The same key again: no second send, the same truthful refusal.
    with pytest.raises(RequestTimeoutError) as again:
        await book.submit(connection_id=CONN, account_id=inner.account_id, broker=broker,
                          order=buy(), idempotency_key="slow")
    assert_no_resend_advice(again.value)
    assert broker.sends == 1
    # The broker places it late; the live sync's update attaches it to its intent.
    [placed] = await broker.release()
    assert isinstance(placed, OrderResult)
    assert placed.order_id is not None
    record = await book.update_from_order(await inner.get_order(placed.order_id))
    assert record is not None
    assert (record.broker_order_id, record.status) == (placed.order_id, placed.status)
    assert len(await inner.get_orders()) == 1
    replay = await book.submit(connection_id=CONN, account_id=inner.account_id,
                               broker=broker, order=buy(), idempotency_key="slow")
    assert replay.order_id == placed.order_id
    assert broker.sends == 1


async def test_not_sent_after_the_window_and_a_later_order_still_attaches(
        database: Database) -> None:
    inner = await paper()
    broker = Late(inner, broker_type=REMOTE)
    clock = Clock()
    book = journal(database, clock)
    order = buy("MSFT")
    with pytest.raises(RequestTimeoutError):
        await book.submit(connection_id=CONN, account_id=inner.account_id, broker=broker,
                          order=order)
    clock.advance(WINDOW + timedelta(seconds=1))
    report = await book.reconcile({CONN: broker})
    [gone] = report.not_sent
    assert (gone.status, gone.not_sent) == (OrderStatus.REJECTED, True)
    assert gone.error_message is not None
    assert "2m0s" in gone.error_message       # the window the conclusion rests on
    # Later still, the broker places it anyway: the broker's record wins.
    [placed] = await broker.release()
    assert isinstance(placed, OrderResult)
    assert placed.order_id is not None
    record = await book.update_from_order(await inner.get_order(placed.order_id))
    assert record is not None
    assert (record.status, record.not_sent, record.resolution) == (placed.status, False,
                                                                   "late")
    assert (record.broker_order_id, record.error_type) == (placed.order_id, None)
    assert len(await inner.get_orders()) == 1


async def test_resend_with_the_same_client_order_id_proves_it(database: Database) -> None:
    inner = await paper()
    broker = Late(inner, broker_type=DEDUPING)
    clock = Clock()
    book = journal(database, clock)
    order = buy("KO", 3)
    result = await book.submit(connection_id=CONN, account_id=inner.account_id,
                               broker=broker, order=order, idempotency_key="dedupe")
    # Nothing was found, so the journal sent the SAME client order id again: accepted,
    # the first never arrived and this is the one order.
    [intent] = await book.intents()
    assert (intent.resolution, intent.attempts, intent.broker_order_id) == (
        "resend", 2, result.order_id)
    # The held first request arrives late: the broker refuses the duplicate.
    [late] = await broker.release()
    assert isinstance(late, DuplicateOrderError)
    [at_broker] = await inner.get_orders()
    assert (at_broker.order_id, at_broker.client_order_id) == (result.order_id,
                                                               order.client_order_id)


async def test_resend_refused_as_duplicate_finds_the_first(database: Database) -> None:
    inner = await paper()
    broker = Late(inner, broker_type=DEDUPING, arrive_before_next_send=True)
    book = journal(database, Clock())
    order = buy("PEP")
    result = await book.submit(connection_id=CONN, account_id=inner.account_id,
                               broker=broker, order=order)
    [at_broker] = await inner.get_orders()
    assert result.order_id == at_broker.order_id
    [intent] = await book.intents()
    assert (intent.resolution, intent.broker_order_id) == ("lookup", at_broker.order_id)
    assert broker.sends == 2


async def test_restart_follows_the_same_rule(database: Database) -> None:
    inner = await paper()
    clock = Clock()
    remote, deduping = buy("SPY"), buy("QQQ")
    repository = order_journal(database).repository
    for connection_id, order in ((CONN, remote), ("conn-dedupe", deduping)):
        await insert_crashed_intent(repository, connection_id=connection_id,
                                    account_id=inner.account_id, order=order,
                                    now=clock.now)
    slow = Late(inner, broker_type=REMOTE, hold=0)
    book = journal(database, clock)
    # Inside the window, a remote broker's "not found" is not "not sent".
    report = await book.reconcile({CONN: slow})
    assert [r.client_order_id for r in report.unresolved] == [remote.client_order_id]
    # The deduping broker proves it by a resend under the same client order id.
    report = await book.reconcile({"conn-dedupe": Late(inner, broker_type=DEDUPING, hold=0)})
    [resolved] = report.resolved
    assert (resolved.client_order_id, resolved.resolution) == (deduping.client_order_id,
                                                               "resend")
    clock.advance(WINDOW)
    report = await book.reconcile({CONN: slow})
    assert [r.client_order_id for r in report.not_sent] == [remote.client_order_id]
    assert [o.symbol for o in await inner.get_orders()] == ["QQQ"]


class _Ack(BaseModel):
    id: str


async def test_unreadable_answer_is_ambiguous_not_a_refusal(database: Database) -> None:
    """Issue 19 B: an adapter that lets a parse error escape after the broker placed the
    order: the journal treats it as ambiguous, finds the order, and sends nothing more."""
    inner = await paper()

    class Garbled(Lookup):
        async def place_order(self, order: OrderRequest) -> OrderResult:
            await super().place_order(order)
            _Ack.model_validate({})           # the 200 body was {}
            raise AssertionError("unreachable")

    broker = Garbled(inner)
    book = journal(database, Clock())
    result = await book.submit(connection_id=CONN, account_id=inner.account_id,
                               broker=broker, order=buy(), idempotency_key="garbled")
    [at_broker] = await inner.get_orders()
    assert result.order_id == at_broker.order_id
    [intent] = await book.intents()
    assert intent.resolution == "lookup"


async def test_unreadable_acknowledgement_without_lookup_stays_unknown(
        database: Database) -> None:
    inner = await paper()

    class Unreadable(Lookup):
        async def place_order(self, order: OrderRequest) -> OrderResult:
            await self.inner.place_order(order)
            self.unreachable = True            # and the broker cannot be asked now
            raise UnreadableAcknowledgementError("200 with body {}",
                                                 client_order_id=order.client_order_id)

    broker = Unreadable(inner)
    book = journal(database, Clock())
    with pytest.raises(RequestTimeoutError) as unknown:
        await book.submit(connection_id=CONN, account_id=inner.account_id, broker=broker,
                          order=buy(), idempotency_key="k")
    assert_no_resend_advice(unknown.value)
    [intent] = await book.intents()
    assert intent.status is OrderStatus.UNKNOWN
    broker.unreachable = False
    report = await book.reconcile({CONN: broker})
    [resolved] = report.resolved
    assert resolved.broker_order_id == (await inner.get_orders())[0].order_id


async def test_connect_failure_with_no_order_at_the_broker_is_not_sent(
        database: Database) -> None:
    inner = await paper()
    broker = Lookup(inner, fail_sends=True)
    book = journal(database, Clock())
    with pytest.raises(BrokerConnectionError, match="was not sent"):
        await book.submit(connection_id=CONN, account_id=inner.account_id, broker=broker,
                          order=buy())
    [intent] = await book.intents()
    assert (intent.status, intent.not_sent) == (OrderStatus.REJECTED, True)


@pytest.mark.parametrize(("key", "problem"), [
    ("", "empty"),
    ("k" * 256, "256 characters"),
    ("k" * 100_000, "100000 characters"),
    ("caf\u00e9", "outside printable ASCII"),
    ("line\nbreak", "outside printable ASCII"),
    ("nul\x00", "outside printable ASCII"),
])
async def test_idempotency_key_outside_the_rule_is_refused_before_anything(
        database: Database, key: str, problem: str) -> None:
    inner = await paper()
    book = journal(database, Clock())
    with pytest.raises(InvalidOrderError) as refused:
        await book.submit(connection_id=CONN, account_id=inner.account_id, broker=inner,
                          order=buy(), idempotency_key=key)
    assert refused.value.field == "idempotency_key"
    assert "1 to 255 printable ASCII characters" in refused.value.message
    assert problem in refused.value.message
    assert len(refused.value.message) < 200       # the key itself is never echoed
    assert await book.intents() == []
    assert await inner.get_orders() == []


@pytest.mark.parametrize("key", ["k", "k" * 255, " spaces and ~!@#$%^&*() "])
async def test_idempotency_key_inside_the_rule_is_accepted(database: Database,
                                                           key: str) -> None:
    inner = await paper()
    book = journal(database, Clock())
    first = await book.submit(connection_id=CONN, account_id=inner.account_id,
                              broker=inner, order=buy(), idempotency_key=key)
    again = await book.submit(connection_id=CONN, account_id=inner.account_id,
                              broker=inner, order=buy(), idempotency_key=key)
    assert again == first
    assert len(await inner.get_orders()) == 1
