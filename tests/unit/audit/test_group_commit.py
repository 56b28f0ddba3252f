"""Concurrent appends are written together (group commit) and still chain in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import update

from brokerlink.audit.log import AuditIntegrityError
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import open_audit_log
from brokerlink.storage.audit_events import AppendBuilder, AuditRepository
from brokerlink.storage.engine import Database
from brokerlink.storage.records import AuditEventRecord
from brokerlink.storage.tables import audit_events


class CountingRepository(AuditRepository):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.batches: list[int] = []

    async def append_many(self, builds: Sequence[AppendBuilder]) -> list[AuditEventRecord]:
        self.batches.append(len(builds))
        return await super().append_many(builds)


async def test_concurrent_appends_share_transactions_and_chain(database: Database,
                                                                vault: Vault) -> None:
    log = await open_audit_log(database, vault)
    counting = CountingRepository(database)
    log._repo = counting  # count transactions on the same database
    events = await asyncio.gather(*(
        log.append("broker.request", actor="t", outcome="ok", detail={"n": n})
        for n in range(60)))
    assert sorted(e.seq for e in events) == list(range(1, 61))
    # Each caller got its own event back.
    assert [e.detail for e in events] == [f'{{"n":{n}}}' for n in range(60)]
    assert sum(counting.batches) == 60
    assert len(counting.batches) < 60
    report = await log.verify()
    assert report.ok, report
    assert report.events_checked == 60


async def test_a_refused_batch_fails_every_append_in_it(database: Database,
                                                        vault: Vault) -> None:
    log = await open_audit_log(database, vault)
    await log.append("first", actor="t", outcome="ok")
    # Tamper with the stored head: every append after it must be refused.
    async with database.transaction() as conn:
        await conn.execute(update(audit_events).values(hash="f" * 64))
    results = await asyncio.gather(*(log.append("next", actor="t", outcome="ok")
                                     for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, AuditIntegrityError) for r in results)
    with pytest.raises(AuditIntegrityError):
        await log.append("later", actor="t", outcome="ok")
