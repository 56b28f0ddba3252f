"""Issue 19 items 5 and 6: every tamper is detected, on SQLite and PostgreSQL, through
the library (a typed report, never an exception) and through ``brokerlink audit verify``
(exit 1, the event and the reason on one line, a summary, no traceback).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from typer.testing import CliRunner

from brokerlink.audit.log import AuditLog
from brokerlink.audit.verify import VerifyReport
from brokerlink.bootstrap import load_vault, open_audit_log
from brokerlink.cli.audit import app
from brokerlink.storage.engine import Database, open_database
from tests.dbfixtures import DbTarget
from tests.unit.audit.support import fill

from .tampers import EVENTS, TAMPERS, Scene, Tamper

runner = CliRunner()
T = TypeVar("T")


def on_database(target: DbTarget, work: Callable[[Database, AuditLog], Awaitable[T]]) -> T:
    """Run ``work`` on a fresh connection and audit log (as a new process would)."""

    async def run() -> T:
        database = await open_database(target.url, schema=target.schema)
        try:
            return await work(database, await open_audit_log(database,
                                                             await load_vault(database)))
        finally:
            await database.aclose()

    return asyncio.run(run())


def seed(target: DbTarget) -> None:
    async def work(_: Database, log: AuditLog) -> None:
        await fill(log, EVENTS)

    on_database(target, work)


def verify(target: DbTarget) -> VerifyReport:
    async def work(_: Database, log: AuditLog) -> VerifyReport:
        return await log.verify()

    return on_database(target, work)


def apply(target: DbTarget, tamper: Tamper) -> None:
    async def work(database: Database, _: AuditLog) -> None:
        await tamper.apply(Scene(database, target.home / "audit.checkpoint"))

    on_database(target, work)


def assert_one_line_failure(output: str, phrase: str) -> None:
    """The reason is on one line with its event, followed by the summary; no traceback."""
    assert "Traceback" not in output
    lines = output.splitlines()
    failing = [line for line in lines if phrase in line]
    assert failing, output
    assert failing[0].startswith(("chain broken at event", "verification failed")), output
    assert any(line.endswith("events verified before the break.") for line in lines), output


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_tamper_is_detected(db_target: DbTarget, tamper: Tamper) -> None:
    seed(db_target)
    assert verify(db_target).ok  # a control: the seeded log verifies before the tamper
    apply(db_target, tamper)

    sqlite = db_target.kind == "sqlite"
    seq, phrase = tamper.expected_seq(sqlite), tamper.expected_phrase(sqlite)
    report = verify(db_target)
    assert not report.ok
    assert report.problem is tamper.problem, report.reason
    assert phrase in (report.reason or "")
    assert report.first_bad_seq == seq

    result = runner.invoke(app, ["verify"], env=db_target.env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert_one_line_failure(result.output, phrase)
    where = (f"chain broken at event {seq} ({tamper.problem.value})"
             if seq is not None else f"verification failed ({tamper.problem.value})")
    assert where in result.output


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_show_never_raises_after_a_tamper(db_target: DbTarget, tamper: Tamper) -> None:
    seed(db_target)
    apply(db_target, tamper)
    result = runner.invoke(app, ["show", "-n", "50"], env={**db_target.env, "COLUMNS": "250"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    damaged = tamper.problem.value == "damaged" and tamper.seq is not None
    # A damaged row is shown marked (and show exits 1); other tampers show the rows left.
    assert result.exit_code == (1 if damaged else 0), result.output
    if damaged:
        assert "[damaged]" in result.output
        assert "brokerlink audit verify" in result.output
