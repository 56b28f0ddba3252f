"""The hash chain verifies on a real log and names each kind of tampering."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from brokerlink.audit.log import AuditIntegrityError, AuditLog
from brokerlink.audit.verify import Problem
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import load_vault, open_audit_log
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database, open_database
from tests.dbfixtures import DbTarget

from .support import (
    checkpoint_row,
    delete_seqs,
    fill,
    insert_row,
    row,
    set_checkpoint,
    set_fields,
    shift_from,
)

EVENTS = 20


@pytest.fixture
async def log(database: Database, vault: Vault) -> AuditLog:
    audit = await open_audit_log(database, vault)
    await fill(audit, EVENTS)
    return audit


async def test_intact_log_verifies(log: AuditLog, brokerlink_home: Path) -> None:
    report = await log.verify()
    assert report.ok, report.reason
    assert report.events_checked == EVENTS
    assert report.head_seq == EVENTS
    assert report.warnings == ()
    checkpoint = brokerlink_home / "audit.checkpoint"
    assert stat.S_IMODE(checkpoint.stat().st_mode) == 0o600
    assert json.loads(checkpoint.read_text())["seq"] == EVENTS


async def test_events_chain_and_are_utc(log: AuditLog) -> None:
    recent = await log.recent(3)
    assert [e.seq for e in recent] == [18, 19, 20]
    assert recent[1].prev_hash == recent[0].hash
    assert all(e.at.utcoffset() is not None and not e.at.utcoffset() for e in recent)
    assert json.loads(recent[0].detail) == {"n": 17, "symbol": "AAPL"}


async def test_empty_log_verifies(database: Database, vault: Vault) -> None:
    report = await (await open_audit_log(database, vault)).verify()
    assert report.ok
    assert report.events_checked == 0


async def test_detects_modified_event(log: AuditLog, database: Database) -> None:
    await set_fields(database, 7, detail='{"n":6,"symbol":"MSFT"}')
    report = await log.verify()
    assert not report.ok
    assert (report.problem, report.first_bad_seq) == (Problem.MODIFIED, 7)
    assert report.events_checked == 6


async def test_detects_modified_outcome_with_rehash_attempt(log: AuditLog,
                                                            database: Database) -> None:
    # Without the key a forger can only guess; a plain SHA-256 would not do.
    await set_fields(database, 3, outcome="rejected", hash="0" * 64)
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.MODIFIED, 3)


async def test_detects_deleted_event(log: AuditLog, database: Database) -> None:
    await delete_seqs(database, 5)
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.DELETED, 5)
    assert "event 5 missing" in (report.reason or "")


async def test_detects_deleted_and_renumbered_event(log: AuditLog, database: Database) -> None:
    await delete_seqs(database, 5)
    for seq in range(6, EVENTS + 1):
        await set_fields(database, seq, seq=seq - 1)
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.DELETED, 5)


async def test_detects_inserted_event(log: AuditLog, database: Database) -> None:
    genuine = await row(database, 5)
    await shift_from(database, 5, EVENTS)
    forged = {**genuine, "detail": '{"n":999}', "hash": "ab" * 32}
    await insert_row(database, forged)
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.INSERTED, 5)


async def test_detects_event_appended_past_the_head(log: AuditLog, database: Database) -> None:
    last = await row(database, EVENTS)
    await insert_row(database, {**last, "seq": EVENTS + 1, "prev_hash": last["hash"],
                                "hash": "cd" * 32})
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.INSERTED, EVENTS + 1)


async def test_detects_reordered_events(log: AuditLog, database: Database) -> None:
    await set_fields(database, 8, seq=-8)
    await set_fields(database, 9, seq=8)
    await set_fields(database, -8, seq=9)
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.REORDERED, 8)


async def test_detects_cut_off_tail(log: AuditLog, database: Database) -> None:
    await delete_seqs(database, 18, 19, 20)
    report = await log.verify()
    assert (report.problem, report.first_bad_seq) == (Problem.TRUNCATED, 18)
    assert "3 event(s) were cut off" in (report.reason or "")


async def test_detects_cut_off_tail_with_rewound_checkpoint_row(
        database: Database, vault: Vault) -> None:
    log = await open_audit_log(database, vault)
    await fill(log, 17)
    saved = await checkpoint_row(database)
    await fill(log, 3)
    await delete_seqs(database, 18, 19, 20)
    await set_checkpoint(database, **{k: v for k, v in saved.items() if k != "id"})
    report = await log.verify()  # the row agrees with the log; the file does not
    assert (report.problem, report.first_bad_seq) == (Problem.TRUNCATED, 18)
    assert "checkpoint file" in (report.reason or "")


async def test_detects_tampered_checkpoint_row(log: AuditLog, database: Database) -> None:
    await set_checkpoint(database, seq=EVENTS + 5)
    report = await log.verify()
    assert report.problem is Problem.BAD_CHECKPOINT
    assert "fails its MAC" in (report.reason or "")


async def test_detects_tampered_checkpoint_file(log: AuditLog, brokerlink_home: Path) -> None:
    path = brokerlink_home / "audit.checkpoint"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "seq": 3}))
    assert (await log.verify()).problem is Problem.BAD_CHECKPOINT
    path.write_text("garbage")
    assert (await log.verify()).problem is Problem.BAD_CHECKPOINT


async def test_missing_checkpoint_file_fails_unless_allowed(log: AuditLog,
                                                             brokerlink_home: Path) -> None:
    # Issue 19 item 6: by default a missing file fails (a cut tail plus a rewound row
    # could not be ruled out); a machine that never wrote to a shared database opts out.
    (brokerlink_home / "audit.checkpoint").unlink()
    report = await log.verify()
    assert not report.ok
    assert report.problem is Problem.MISSING_CHECKPOINT
    assert "cannot be ruled out" in (report.reason or "")
    allowed = await log.verify(require_checkpoint_file=False)
    assert allowed.ok
    assert allowed.warnings


async def test_append_refused_after_tampering(log: AuditLog, database: Database) -> None:
    await delete_seqs(database, EVENTS)
    with pytest.raises(AuditIntegrityError, match="audit verify"):
        await log.append("connection.connect", actor="service", outcome="ok")


async def test_naive_time_refused(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await log.append("x", actor="a", outcome="ok", at=utc_now().replace(tzinfo=None))


async def test_concurrent_appenders_do_not_fork_the_chain(
        db_target: DbTarget, database: Database, vault: Vault) -> None:
    # Two engines stand in for two processes: only the database lock serialises them.
    other_db = await open_database(db_target.url, schema=db_target.schema)
    try:
        other_vault = await load_vault(other_db, FileKeyProvider())
        first = await open_audit_log(database, vault)
        second = await open_audit_log(other_db, other_vault)
        await asyncio.gather(fill(first, 15), fill(second, 15), fill(first, 5))
    finally:
        await other_db.aclose()
    report = await first.verify()
    assert report.ok, report.reason
    assert report.events_checked == 35


async def test_deleted_audit_key_is_reported(log: AuditLog, database: Database,
                                             vault: Vault) -> None:
    await vault.delete_secret("__audit__", "hmac_key")
    with pytest.raises(AuditIntegrityError, match="audit key is missing"):
        await open_audit_log(database, vault)
