"""A stateful property test of the order journal and the order state machine.

Random submits (with and without idempotency keys, repeated, changed), lost answers,
unreachable brokers, refusals, restarts (a new journal on the same database, then
reconcile) and later status updates. Invariants: no intent is ever sent twice, statuses
only move along the state machine, an idempotent repeat gets the identical reply, and
every journaled broker order exists at the broker under the same client order id.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from brokerlink.adapters.paper import PaperBroker
from brokerlink.bootstrap import order_journal
from brokerlink.core.enums import OrderSide, OrderStatus, OrderType
from brokerlink.core.errors import BrokerError, DuplicateOrderError, RequestTimeoutError
from brokerlink.core.lifecycle import LEGAL_TRANSITIONS
from brokerlink.core.models import OrderRequest, OrderResult
from brokerlink.storage.engine import Database, open_database
from tests.contract.harness import SESSION_START
from tests.dbfixtures import POSTGRES_URL, postgres_reachable
from tests.integration.journal.brokers import Lookup

T = TypeVar("T")
CONN = "c1"


def _reachable() -> dict[OrderStatus, frozenset[OrderStatus]]:
    closure: dict[OrderStatus, frozenset[OrderStatus]] = {}
    for start in OrderStatus:
        seen, todo = {start}, [start]
        while todo:
            for nxt in LEGAL_TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        closure[start] = frozenset(seen)
    return closure


REACHABLE = _reachable()


class CountingBroker(Lookup):
    """Counts sends per client order id: the "never sent twice" witness."""

    def __init__(self, inner: PaperBroker) -> None:
        super().__init__(inner)
        self.sends: dict[str, int] = {}

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if not self.fail_sends:
            self.sends[order.client_order_id] = self.sends.get(order.client_order_id, 0) + 1
        return await super().place_order(order)


class JournalMachine(RuleBasedStateMachine):
    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.schema: str | None = None
        if self.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'journal.db'}"
        else:
            url = POSTGRES_URL
            self.schema = f"bl_hyp_{uuid.uuid4().hex[:12]}"
            self.run(self._pg(f'CREATE SCHEMA "{self.schema}"'))
        self.database: Database = self.run(open_database(url, schema=self.schema))
        self.inner = PaperBroker(market="always_open", start=SESSION_START, cash=10_000_000)
        self.run(self.inner.connect())
        self.broker = CountingBroker(self.inner)
        self.journal = order_journal(self.database, clock=self.inner.engine.now)
        self.replies: dict[str, tuple[str, object]] = {}   # key -> (fingerprint, reply)
        self.seen: dict[str, OrderStatus] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _pg(self, statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    def teardown(self) -> None:
        self.run(self.database.aclose())
        if self.schema is not None:
            self.run(self._pg(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.loop.close()
        self.tmp.cleanup()

    @rule(key=st.sampled_from([None, None, "a", "b", "c"]), quantity=st.integers(1, 3),
          limit=st.booleans(),
          mode=st.sampled_from(["ok", "ok", "lost", "lost_unreachable", "fail_send",
                                "refuse"]))
    def submit(self, key: str | None, quantity: int, limit: bool, mode: str) -> None:
        symbol = "ZZZQX" if mode == "refuse" else "AAPL"
        fields: dict[str, Any] = {"order_type": OrderType.LIMIT,
                                  "limit_price": Decimal("1.00")} if limit else {}
        order = OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity, **fields)
        self.broker.lose_answers = mode.startswith("lost")
        self.broker.unreachable = mode in ("lost_unreachable", "fail_send")
        self.broker.fail_sends = mode == "fail_send"
        reply: object
        try:
            reply = self.run(self.journal.submit(
                connection_id=CONN, account_id=self.inner.account_id, broker=self.broker,
                order=order, idempotency_key=key))
        except BrokerError as exc:
            reply = type(exc)
        finally:
            self.broker.lose_answers = self.broker.unreachable = False
            self.broker.fail_sends = False
        if key is None:
            return
        fingerprint = f"{symbol}/{quantity}/{limit}"
        if key not in self.replies:
            self.replies[key] = (fingerprint, reply)
            return
        first_fingerprint, first = self.replies[key]
        if first_fingerprint != fingerprint:
            assert reply is DuplicateOrderError
        elif first is RequestTimeoutError:
            # Unknown then: now either still unknown, or what reconcile found.
            assert reply is RequestTimeoutError or isinstance(reply, OrderResult | type)
            self.replies[key] = (first_fingerprint, reply)
        else:
            assert reply == first, (reply, first)

    @rule()
    def restart(self) -> None:
        self.journal = order_journal(self.database, clock=self.inner.engine.now)
        report = self.run(self.journal.reconcile({CONN: self.broker}))
        assert report.clean
        intents = self.run(self.journal.intents())
        assert not [i for i in intents if i.in_flight]

    @rule()
    def reconcile_while_unreachable(self) -> None:
        self.broker.unreachable = True
        try:
            report = self.run(self.journal.reconcile({CONN: self.broker}))
        finally:
            self.broker.unreachable = False
        assert not report.resolved
        assert not report.not_sent

    @precondition(lambda self: bool(self.seen))
    @rule(pick=st.integers(0, 1_000))
    def cancel_and_update(self, pick: int) -> None:
        # Draw first, then choose: what is drawn must not depend on database state.
        intents = sorted((i for i in self.run(self.journal.intents())
                          if i.broker_order_id is not None and i.status is OrderStatus.NEW),
                         key=lambda i: (i.created_at, i.client_order_id))
        if not intents:
            return
        intent = intents[pick % len(intents)]
        assert intent.broker_order_id is not None
        before = self.run(self.inner.get_order(intent.broker_order_id))
        self.run(self.inner.cancel_order(intent.broker_order_id))
        after = self.run(self.inner.get_order(intent.broker_order_id))
        updated = self.run(self.journal.update_from_order(after))
        assert updated is not None
        assert updated.status is OrderStatus.CANCELED
        stale = self.run(self.journal.update_from_order(before))
        assert stale is not None
        assert stale.status is OrderStatus.CANCELED

    @invariant()
    def never_sent_twice(self) -> None:
        assert all(count == 1 for count in self.broker.sends.values()), self.broker.sends

    @invariant()
    def statuses_move_legally_and_match_the_broker(self) -> None:
        at_broker = {o.order_id: o for o in self.run(self.inner.get_orders())}
        for intent in self.run(self.journal.intents()):
            previous = self.seen.get(intent.id)
            if previous is not None:
                assert intent.status in REACHABLE[previous], (previous, intent.status)
            self.seen[intent.id] = intent.status
            if intent.broker_order_id is not None:
                order = at_broker[intent.broker_order_id]
                assert order.client_order_id == intent.client_order_id
                assert not intent.not_sent
            if intent.not_sent:
                assert intent.client_order_id not in self.broker.sends


class PostgresJournalMachine(JournalMachine):
    backend = "postgresql"


TestJournalSQLite = JournalMachine.TestCase
TestJournalSQLite.settings = settings(max_examples=20, stateful_step_count=20,
                                      deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])


TestJournalPostgres = pytest.mark.skipif(
    not postgres_reachable(), reason="PostgreSQL is not reachable")(
    PostgresJournalMachine.TestCase)
TestJournalPostgres.settings = settings(max_examples=10, stateful_step_count=15,
                                        deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
