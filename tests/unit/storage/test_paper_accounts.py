"""Paper accounts are stored compare-and-swap, and deleted with their connection."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest

from brokerlink.core.values import utc_now
from brokerlink.storage.broker_state import (
    VERSIONS_PER_QUERY,
    BrokerStateRepository,
    StateVersionConflictError,
)
from brokerlink.storage.connections import ConnectionNotFoundError, ConnectionRepository
from brokerlink.storage.engine import Database, open_database
from brokerlink.storage.records import ConnectionRecord, ConnectionStatus
from tests.dbfixtures import DbTarget


async def _connection(database: Database, connection_id: str = "c1") -> None:
    now = utc_now()
    await ConnectionRepository(database).add(ConnectionRecord(
        id=connection_id, broker="paper", label="Paper", status=ConnectionStatus.CONNECTED,
        created_at=now, updated_at=now, account_ids=("PAPER-1",), base_url="paper:?seed=7"))


async def test_save_load_and_compare_and_swap(database: Database) -> None:
    await _connection(database)
    repo = BrokerStateRepository(database)
    assert await repo.get("c1") is None
    assert await repo.version("c1") is None
    assert await repo.save("c1", '{"v": 1}', expected_version=0) == 1
    assert await repo.save("c1", '{"v": 2}', expected_version=1) == 2
    stored = await repo.get("c1")
    assert stored is not None
    assert (stored.version, stored.state) == (2, '{"v": 2}')
    assert stored.updated_at.tzinfo is UTC
    assert "state=<" in repr(stored)  # the state itself stays out of logs
    assert await repo.version("c1") == 2

    with pytest.raises(StateVersionConflictError, match="another process") as stale:
        await repo.save("c1", '{"v": "lost"}', expected_version=1)
    assert (stale.value.expected, stale.value.found) == (1, 2)
    with pytest.raises(StateVersionConflictError) as again:
        await repo.save("c1", '{"v": "lost"}', expected_version=0)
    assert again.value.found == 2
    kept = await repo.get("c1")
    assert kept is not None
    assert kept.state == '{"v": 2}'
    with pytest.raises(ValueError, match="expected_version"):
        await repo.save("c1", "{}", expected_version=-1)


async def test_no_account_row_without_its_connection(database: Database) -> None:
    repo = BrokerStateRepository(database)
    with pytest.raises(ConnectionNotFoundError):
        await repo.save("nobody", "{}", expected_version=0)
    assert await repo.get("nobody") is None


async def test_deleting_the_connection_deletes_its_account(database: Database) -> None:
    await _connection(database, "c1")
    await _connection(database, "c2")
    repo = BrokerStateRepository(database)
    await repo.save("c1", "{}", expected_version=0)
    await repo.save("c2", "{}", expected_version=0)
    assert await ConnectionRepository(database).delete("c1")
    assert await repo.get("c1") is None
    assert await repo.get("c2") is not None
    with pytest.raises(StateVersionConflictError) as gone:
        await repo.save("c1", "{}", expected_version=1)
    assert gone.value.found is None
    assert await repo.delete("c2")
    assert not await repo.delete("c2")


async def test_two_databases_racing_one_version_one_wins(database: Database,
                                                         db_target: DbTarget) -> None:
    await _connection(database)
    other = await open_database(db_target.url, schema=db_target.schema)
    try:
        mine, theirs = BrokerStateRepository(database), BrokerStateRepository(other)
        for expected in (0, 1, 2, 3):  # the first save (an insert) races too
            outcomes = await asyncio.gather(
                mine.save("c1", '"mine"', expected_version=expected),
                theirs.save("c1", '"theirs"', expected_version=expected),
                return_exceptions=True)
            won = [o for o in outcomes if isinstance(o, int)]
            lost = [o for o in outcomes if isinstance(o, StateVersionConflictError)]
            assert (won, len(lost)) == ([expected + 1], 1)
        assert await theirs.version("c1") == 4
    finally:
        await other.aclose()


async def test_versions_of_many_accounts_in_one_call(database: Database) -> None:
    ids = [f"c{i}" for i in range(VERSIONS_PER_QUERY + 7)]  # more than one statement's worth
    for connection_id in ids:
        await _connection(database, connection_id)
    repo = BrokerStateRepository(database)
    for number, connection_id in enumerate(ids):
        for version in range(number % 3):
            await repo.save(connection_id, "{}", expected_version=version)
    found = await repo.versions([*ids, "nobody", ids[0]])
    assert found == {connection_id: number % 3 for number, connection_id in enumerate(ids)
                     if number % 3}
    assert await repo.versions([]) == {}
