"""Version checks of stored paper accounts are read in batches, and a batched check
still sees every save committed before it was asked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from brokerlink.adapters._shared.state import BrokerStateStore
from brokerlink.bootstrap import broker_state_stores
from brokerlink.core.values import utc_now
from brokerlink.storage.broker_state import BrokerStateRepository
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.engine import Database, open_database
from brokerlink.storage.records import ConnectionRecord, ConnectionStatus
from tests.dbfixtures import DbTarget


async def _paper_connections(database: Database, count: int) -> list[str]:
    ids = [f"paper-{number}" for number in range(count)]
    now = utc_now()
    repository = ConnectionRepository(database)
    for connection_id in ids:
        await repository.add(ConnectionRecord(
            id=connection_id, broker="paper", label="Paper",
            status=ConnectionStatus.CONNECTED, created_at=now, updated_at=now,
            account_ids=("PAPER-1",), base_url="paper:?seed=7"))
    return ids


@contextmanager
def version_queries(database: Database) -> Iterator[list[str]]:
    """The statements reading ``paper_accounts`` versions while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "paper_accounts.version" in statement and "SELECT" in statement:
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


def _stores(database: Database, ids: list[str]) -> list[BrokerStateStore]:
    """The stores of ``ids`` as the connection service gets them (one
    ``bootstrap.broker_state_stores`` over the database)."""
    states = broker_state_stores(database)
    return [states.store_for(connection_id, broker="paper") for connection_id in ids]


async def test_checks_asked_together_share_one_query(database: Database) -> None:
    ids = await _paper_connections(database, 40)
    repository = BrokerStateRepository(database)
    for number, connection_id in enumerate(ids[:30]):
        for version in range(number % 3 + 1):
            await repository.save(connection_id, "{}", expected_version=version)
    stores = _stores(database, ids)

    with version_queries(database) as queries:
        versions = await asyncio.gather(*(store.version() for store in stores),
                                        *(store.version() for store in stores[:5]))
    assert versions[:40] == [number % 3 + 1 for number in range(30)] + [None] * 10
    assert versions[40:] == versions[:5]
    assert len(queries) == 1
    # Stores from different ``broker_state_stores`` calls batch apart (nothing global).
    apart = _stores(database, ids[:2]) + _stores(database, ids[2:4])
    with version_queries(database) as queries:
        assert await asyncio.gather(*(store.version() for store in apart)) == [1, 2, 3, 1]
    assert len(queries) == 2


async def test_a_check_sees_every_save_committed_before_it(database: Database,
                                                           db_target: DbTarget) -> None:
    ids = await _paper_connections(database, 12)
    # The saves come from another handle on the same database, like another process.
    other = await open_database(db_target.url, schema=db_target.schema)
    try:
        writer = BrokerStateRepository(other)
        stores = dict(zip(ids, _stores(database, ids), strict=True))

        async def save_then_check(connection_id: str) -> None:
            for expected in range(6):
                saved = await writer.save(connection_id, "{}", expected_version=expected)
                assert await stores[connection_id].version() == saved

        async def keep_checking() -> None:
            # Checks in flight all the time, so that the ones above join running batches.
            for _ in range(60):
                await asyncio.gather(*(store.version() for store in stores.values()))

        with version_queries(database) as queries:
            await asyncio.gather(keep_checking(), *(save_then_check(c) for c in ids))
        assert len(queries) < 60 + 12 * 6  # batched: fewer queries than checks
    finally:
        await other.aclose()


async def test_a_failed_query_fails_its_waiters_and_the_next_one_runs(
        database: Database) -> None:
    ids = await _paper_connections(database, 3)
    await BrokerStateRepository(database).save(ids[0], "{}", expected_version=0)
    stores = _stores(database, ids)
    async with database.transaction() as conn:
        await conn.execute(text("ALTER TABLE paper_accounts RENAME TO paper_accounts_away"))
    try:
        failures = await asyncio.gather(*(store.version() for store in stores),
                                        return_exceptions=True)
        assert all(isinstance(failure, DBAPIError) for failure in failures), failures
    finally:
        async with database.transaction() as conn:
            await conn.execute(text("ALTER TABLE paper_accounts_away RENAME TO paper_accounts"))
    assert await asyncio.gather(*(store.version() for store in stores)) == [1, None, None]


async def test_a_cancelled_check_leaves_the_others_answered(database: Database) -> None:
    ids = await _paper_connections(database, 4)
    await BrokerStateRepository(database).save(ids[1], "{}", expected_version=0)
    stores = _stores(database, ids)
    checks = [asyncio.create_task(store.version()) for store in stores]
    await asyncio.sleep(0)
    checks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await checks[0]
    assert await asyncio.gather(*checks[1:]) == [1, None, None]
