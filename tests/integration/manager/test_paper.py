"""Paper connections: settings stored without secrets, the account in the database,
the same account for every process that opens it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from brokerlink.adapters.paper import PaperBroker, PaperSettings
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.bootstrap import connection_service, load_vault, open_audit_log
from brokerlink.core.enums import OrderStatus, OrderType, TimeInForce
from brokerlink.core.models import OrderRequest
from brokerlink.manager.connections import ConnectionService
from brokerlink.manager.journal import OrderJournal
from brokerlink.manager.manager import BrokerManager
from brokerlink.sim.snapshot import decode
from brokerlink.storage.broker_state import BrokerStateRepository
from brokerlink.storage.engine import open_database
from brokerlink.storage.tables import credentials
from tests.dbfixtures import DbTarget
from tests.integration.journal.intents import insert_crashed_intent
from tests.integration.manager.conftest import MakeManager
from tests.integration.manager.helpers import Emulator, alpaca_keys


async def _credential_rows(service: ConnectionService, connection_id: str) -> int:
    async with service.database.transaction() as conn:
        count = await conn.scalar(select(func.count()).select_from(credentials).where(
            credentials.c.connection_id == connection_id))
    return int(count or 0)


async def test_paper_connection_stores_settings_not_secrets(service: ConnectionService) -> None:
    record = await service.add_with_settings(
        "paper", PaperSettings(cash=Decimal(2500), seed=3, market="always_open"),
        label="practice")
    assert record.broker == "paper"
    assert record.label == "practice"
    assert record.base_url is not None
    assert record.base_url.startswith("paper:?")
    assert "cash=2500" in record.base_url
    assert record.account_ids[0].startswith("PAPER-")
    assert await _credential_rows(service, record.id) == 0

    opened = await service.open_broker(record.id)
    assert opened.tokens is None
    async with opened.broker as broker:
        assert (await broker.get_balances()).cash == Decimal(2500)
        assert (await broker.get_account()).account_id == record.account_ids[0]
    connect = [e for e in await service.audit.recent(50) if e.action == "connection.connect"]
    assert json.loads(connect[0].detail)["method"] == "none"
    await service.remove(record.id)
    assert await service.list() == []


async def test_paper_state_outlives_its_manager(make_manager: MakeManager) -> None:
    first = make_manager()
    paper = await first.add_broker("paper", settings=PaperSettings(market="always_open"))
    placed = await first.place_order(OrderRequest(symbol="AAPL", side="buy", quantity=4),
                                     connection_id=paper)
    assert placed.result is not None
    held = await first.get_all_positions()
    assert [(p.value.symbol, p.value.quantity) for p in held.items] == [("AAPL", Decimal(4))]
    await first.aclose()

    # Another manager (another process, say) continues the same account.
    second = make_manager()
    again = await second.get_all_positions()
    assert again.complete
    assert [(p.value.symbol, p.value.quantity) for p in again.items] == [("AAPL", Decimal(4))]
    [order] = (await second.get_orders()).items
    assert (order.value.order_id, order.value.status) == (placed.result.order_id,
                                                          OrderStatus.FILLED)
    # The journal and the broker agree: what the journal says was filled, the broker has.
    journal = second.journal
    assert isinstance(journal, OrderJournal)
    [intent] = await journal.intents()
    assert (intent.broker_order_id, intent.status) == (order.value.order_id,
                                                       OrderStatus.FILLED)


async def test_an_order_a_crash_left_unjournaled_is_found_by_the_next_process(
        make_manager: MakeManager) -> None:
    first = make_manager()
    paper = await first.add_broker("paper", settings=PaperSettings(market="always_open"))
    broker = await first.broker(paper)
    assert isinstance(broker, PaperBroker)
    order = OrderRequest(symbol="KO", side="buy", quantity=2)
    journal = first.journal
    assert isinstance(journal, OrderJournal)
    # The process wrote the intent, the broker took the order, then the process died.
    now = broker.engine.now()
    await insert_crashed_intent(journal.repository, connection_id=paper,
                                account_id=broker.account_id, order=order, now=now)
    await broker.place_order(order)
    await first.aclose()

    report = await make_manager().reconcile_orders()
    assert [r.client_order_id for r in report.resolved] == [order.client_order_id]
    assert report.resolved[0].status is OrderStatus.FILLED
    assert report.clean


async def test_add_paper_stores_the_opening_account(service: ConnectionService) -> None:
    record = await service.add_with_settings(
        "paper", PaperSettings(cash=Decimal(2500), market="always_open"))
    stored = await BrokerStateRepository(service.database).get(record.id)
    assert stored is not None
    assert stored.version == 1
    account = decode(stored.state)["account"]
    assert (account["account_id"], account["cash"]) == (record.account_ids[0], "2500")
    await service.remove(record.id)
    assert await BrokerStateRepository(service.database).get(record.id) is None


@pytest.fixture
async def other_process(db_target: DbTarget, service: ConnectionService
                        ) -> AsyncIterator[BrokerManager]:
    """A manager over its own database engine, vault and audit log: a second process."""
    database = await open_database(db_target.url, schema=db_target.schema)
    vault = await load_vault(database, FileKeyProvider())
    audit = await open_audit_log(database, vault)
    manager = BrokerManager(connection_service(database, vault, audit, actor="test:other"),
                            owns_service=True)
    yield manager
    await manager.aclose()


async def test_two_processes_trade_one_paper_account(make_manager: MakeManager,
                                                     other_process: BrokerManager) -> None:
    one, two = make_manager(), other_process
    paper = await one.add_broker("paper", settings=PaperSettings(market="always_open"))
    await one.place_order(OrderRequest(symbol="AAPL", side="buy", quantity=3),
                          connection_id=paper)
    seen = await two.get_all_positions()
    assert [(p.value.symbol, p.value.quantity) for p in seen.items] == [("AAPL", Decimal(3))]
    resting = OrderRequest(symbol="KO", side="buy", quantity=1, order_type=OrderType.LIMIT,
                           limit_price=Decimal(1), time_in_force=TimeInForce.GTC)
    placed = await two.place_order(resting, connection_id=paper)
    assert placed.result is not None
    assert placed.result.order_id is not None
    assert await one.cancel_order(paper, placed.result.order_id) is True
    [canceled] = (await two.get_orders(OrderStatus.CANCELED)).items
    assert canceled.value.order_id == placed.result.order_id

    # Both at once, five orders each: every one stored once, none lost.
    orders = [(manager, OrderRequest(symbol="F", side="buy", quantity=1))
              for _ in range(5) for manager in (one, two)]
    results = await asyncio.gather(*(m.place_order(o, connection_id=paper) for m, o in orders))
    ids = [r.result.order_id for r in results if r.result is not None]
    assert len(set(ids)) == len(ids) == 10
    for manager in (one, two):
        listed = [o.value for o in (await manager.get_orders()).items]
        assert {o.client_order_id for o in listed} >= {o.client_order_id for _, o in orders}
        assert len(listed) == 12
        positions = {p.value.symbol: p.value.quantity
                     for p in (await manager.get_all_positions()).items}
        assert positions == {"AAPL": Decimal(3), "F": Decimal(10)}


async def test_views_and_errors_carry_no_secrets(make_manager: MakeManager,
                                                 alpaca: Emulator) -> None:
    manager = make_manager(read_timeout=5.0)
    await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKNOSECRET1"))
    views = await manager.get_connections()
    balances = await manager.get_all_balances()
    text = repr(views) + repr(balances) + repr(manager)
    assert "PKNOSECRET1-secret" not in text
    assert "PKNOSECRET1" not in text
