"""The order journal on SQLite and PostgreSQL: idempotency, ambiguous outcomes resolved by
asking the broker (client order id or fingerprint), and restart reconciliation."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest

from brokerlink.adapters.paper import PaperBroker
from brokerlink.bootstrap import order_journal
from brokerlink.core.enums import OrderSide, OrderStatus
from brokerlink.core.errors import (
    DuplicateOrderError,
    RequestTimeoutError,
    SymbolNotFoundError,
)
from brokerlink.core.models import OrderRequest
from brokerlink.manager.journal import OrderJournal
from brokerlink.storage.engine import Database
from tests.contract.harness import SESSION_START
from tests.integration.journal.brokers import Lookup, Wrapped
from tests.integration.journal.intents import insert_crashed_intent

CONN = "conn-1"


async def paper() -> PaperBroker:
    broker = PaperBroker(market="always_open", start=SESSION_START, cash=1_000_000)
    await broker.connect()
    return broker


def journal_for(database: Database, broker: PaperBroker) -> OrderJournal:
    return order_journal(database, clock=broker.engine.now)


def buy(symbol: str = "AAPL", quantity: int = 1) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity)


async def test_same_key_twice_sends_once_and_replays_the_result(database: Database) -> None:
    broker = await paper()
    journal = journal_for(database, broker)
    first = await journal.submit(connection_id=CONN, account_id=broker.account_id,
                                 broker=broker, order=buy(), idempotency_key="k1")
    # A retry builds a new request (new client order id): same order, same key.
    again = await journal.submit(connection_id=CONN, account_id=broker.account_id,
                                 broker=broker, order=buy(), idempotency_key="k1")
    assert again == first
    assert len(await broker.get_orders()) == 1
    [intent] = await journal.intents()
    assert intent.status is first.status
    assert intent.broker_order_id == first.order_id


async def test_concurrent_same_key_waits_for_the_first_answer(database: Database) -> None:
    broker = await paper()
    journal = journal_for(database, broker)
    results = await asyncio.gather(*(
        journal.submit(connection_id=CONN, account_id=broker.account_id, broker=broker,
                       order=buy(), idempotency_key="same") for _ in range(8)))
    assert len({r.model_dump_json() for r in results}) == 1
    assert len(await broker.get_orders()) == 1
    assert len(await journal.intents()) == 1


async def test_key_reused_for_another_order_is_refused(database: Database) -> None:
    broker = await paper()
    journal = journal_for(database, broker)
    await journal.submit(connection_id=CONN, account_id=broker.account_id, broker=broker,
                         order=buy(), idempotency_key="k")
    with pytest.raises(DuplicateOrderError, match="different order"):
        await journal.submit(connection_id=CONN, account_id=broker.account_id,
                             broker=broker, order=buy(quantity=2), idempotency_key="k")
    assert len(await broker.get_orders()) == 1


async def test_refusal_is_journaled_and_replayed_with_the_same_type(
        database: Database) -> None:
    broker = await paper()
    journal = journal_for(database, broker)
    for _ in range(2):
        with pytest.raises(SymbolNotFoundError) as refused:
            await journal.submit(connection_id=CONN, account_id=broker.account_id,
                                 broker=broker, order=buy("ZZZQX"), idempotency_key="bad")
        assert type(refused.value).__name__ == "SymbolNotFoundError"
    [intent] = await journal.intents()
    assert intent.status is OrderStatus.REJECTED
    assert not intent.not_sent


async def test_lost_answer_is_resolved_by_client_order_id(database: Database) -> None:
    inner = await paper()
    broker = Lookup(inner, lose_answers=True)
    assert broker.capabilities.client_order_ids
    journal = journal_for(database, inner)
    result = await journal.submit(connection_id=CONN, account_id=inner.account_id,
                                  broker=broker, order=buy())
    [order] = await inner.get_orders()
    assert (result.order_id, broker.placed) == (order.order_id, 1)
    [intent] = await journal.intents()
    assert (intent.status, intent.resolution) == (order.status, "lookup")


async def test_lost_answer_without_lookup_is_resolved_by_fingerprint(
        database: Database) -> None:
    inner = await paper()
    broker = Wrapped(inner, lose_answers=True)
    assert not broker.capabilities.client_order_ids
    journal = journal_for(database, inner)
    # An identical order already at the broker, claimed by its own intent.
    first = await journal.submit(connection_id=CONN, account_id=inner.account_id,
                                 broker=inner, order=buy(quantity=3))
    result = await journal.submit(connection_id=CONN, account_id=inner.account_id,
                                  broker=broker, order=buy(quantity=3))
    orders = await inner.get_orders()
    assert len(orders) == 2
    assert result.order_id != first.order_id
    assert result.order_id in {o.order_id for o in orders}
    assert {i.broker_order_id for i in await journal.intents()} == {o.order_id for o in orders}


async def test_unresolvable_stays_unknown_until_reconcile(database: Database) -> None:
    inner = await paper()
    broker = Lookup(inner, lose_answers=True, unreachable=True)
    journal = journal_for(database, inner)
    order = buy()
    with pytest.raises(RequestTimeoutError) as unknown:
        await journal.submit(connection_id=CONN, account_id=inner.account_id,
                             broker=broker, order=order, idempotency_key="u")
    assert unknown.value.client_order_id == order.client_order_id
    assert "reconcile" in unknown.value.message
    [intent] = await journal.intents()
    assert intent.status is OrderStatus.UNKNOWN
    # The same key while unknown: no second send, a typed "reconcile first".
    with pytest.raises(RequestTimeoutError):
        await journal.submit(connection_id=CONN, account_id=inner.account_id,
                             broker=broker, order=buy(), idempotency_key="u")
    assert broker.placed == 1
    report = await journal.reconcile({CONN: broker})
    assert [r.client_order_id for r in report.unresolved] == [order.client_order_id]
    broker.unreachable = False
    report = await order_journal(database, clock=inner.engine.now).reconcile({CONN: broker})
    assert [r.client_order_id for r in report.resolved] == [order.client_order_id]
    [order_at_broker] = await inner.get_orders()
    [intent] = await journal.intents()
    assert (intent.status, intent.broker_order_id) == (order_at_broker.status,
                                                       order_at_broker.order_id)
    replay = await journal.submit(connection_id=CONN, account_id=inner.account_id,
                                  broker=broker, order=buy(), idempotency_key="u")
    assert replay.order_id == order_at_broker.order_id
    assert broker.placed == 1


async def _crashed_intent(database: Database, broker: PaperBroker, order: OrderRequest,
                          now: datetime) -> None:
    await insert_crashed_intent(order_journal(database).repository, connection_id=CONN,
                                account_id=broker.account_id, order=order, now=now)


async def test_restart_reconciles_before_accepting_new_orders(database: Database) -> None:
    broker = await paper()
    now = broker.engine.now()
    sent, never_sent = buy("MSFT"), buy("KO")
    await broker.place_order(sent)          # reached the broker, answer never journaled
    await _crashed_intent(database, broker, sent, now)
    await _crashed_intent(database, broker, never_sent, now)
    journal = journal_for(database, broker)  # the restarted process
    # submit reconciles its account first (documented), then sends the new order.
    await journal.submit(connection_id=CONN, account_id=broker.account_id, broker=broker,
                         order=buy("PEP"))
    by_coid = {i.client_order_id: i for i in await journal.intents()}
    assert by_coid[sent.client_order_id].resolution == "reconcile"
    assert by_coid[sent.client_order_id].broker_order_id is not None
    gone = by_coid[never_sent.client_order_id]
    assert (gone.status, gone.not_sent) == (OrderStatus.REJECTED, True)
    # Never re-sent: the broker has MSFT and PEP only.
    assert sorted(o.symbol for o in await broker.get_orders()) == ["MSFT", "PEP"]
    assert not [i for i in by_coid.values() if i.in_flight]


async def test_explicit_reconcile_reports_not_sent(database: Database) -> None:
    broker = await paper()
    lost = buy("KO")
    await _crashed_intent(database, broker, lost, broker.engine.now())
    report = await journal_for(database, broker).reconcile({CONN: broker})
    assert [r.client_order_id for r in report.not_sent] == [lost.client_order_id]
    assert report.clean
    assert await broker.get_orders() == []


async def test_update_from_order_moves_only_forward(database: Database) -> None:
    broker = await paper()
    journal = journal_for(database, broker)
    placed = await journal.submit(
        connection_id=CONN, account_id=broker.account_id, broker=broker,
        order=OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1,
                           order_type="limit", limit_price=Decimal("1.00")))
    assert placed.order_id is not None
    assert placed.status is OrderStatus.NEW
    await broker.cancel_order(placed.order_id)
    canceled = await broker.get_order(placed.order_id)
    record = await journal.update_from_order(canceled)
    assert record is not None
    assert record.status is OrderStatus.CANCELED
    stale = canceled.model_copy(update={"status": OrderStatus.NEW})
    record = await journal.update_from_order(stale)
    assert record is not None
    assert record.status is OrderStatus.CANCELED
    foreign = canceled.model_copy(update={"order_id": "elsewhere", "client_order_id": "x"})
    assert await journal.update_from_order(foreign) is None


async def test_ambiguous_reply_while_unreachable_is_typed(database: Database) -> None:
    inner = await paper()
    broker = Wrapped(inner, unreachable=True, fail_sends=True)
    journal = journal_for(database, inner)
    await journal.reconcile({CONN: inner})
    with pytest.raises(RequestTimeoutError):
        await journal.submit(connection_id=CONN, account_id=inner.account_id,
                             broker=broker, order=buy())
    [intent] = await journal.intents()
    assert intent.status is OrderStatus.UNKNOWN


async def test_an_update_decided_on_an_older_record_never_replaces_the_reply(
        database: Database) -> None:
    # The stream's "new" raced submit: the update read the intent before submit stored
    # its reply, and writes after. Submit may store a reply without moving the status
    # (an order still pending), so the status alone cannot tell the update it is stale.
    broker = await paper()
    journal = journal_for(database, broker)
    placed = await journal.submit(connection_id=CONN, account_id=broker.account_id,
                                  broker=broker, order=buy(), idempotency_key="race")
    [stored] = await journal.intents()
    assert stored.result_json is not None
    before_reply = dataclasses.replace(stored, result_json=None)
    assert await journal.repository.transition(
        before_reply, result_json='{"stale": true}', resolution="update") is None
    # Through the journal: a stale status for the same order leaves the reply alone,
    # and a replay under the key answers exactly what submit answered.
    order = await broker.get_order(placed.order_id or "")
    await journal.update_from_order(order.model_copy(update={"status": OrderStatus.NEW}))
    again = await journal.submit(connection_id=CONN, account_id=broker.account_id,
                                 broker=broker, order=buy(), idempotency_key="race")
    assert again == placed
    [after] = await journal.intents()
    assert after.result_json == stored.result_json
