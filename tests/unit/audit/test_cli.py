"""``brokerlink audit verify|show`` through Typer's CliRunner, on both backends."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from typer.testing import CliRunner

from brokerlink.bootstrap import load_vault, open_audit_log
from brokerlink.cli.audit import app
from brokerlink.storage.engine import open_database
from brokerlink.storage.tables import audit_events
from tests.dbfixtures import DbTarget

from .support import fill

runner = CliRunner()


def _seed(target: DbTarget, count: int, *, tamper_seq: int | None = None) -> None:
    async def run() -> None:
        database = await open_database(target.url, schema=target.schema)
        try:
            log = await open_audit_log(database, await load_vault(database))
            await fill(log, count)
            await log.append("connection.remove", actor="cli:test", outcome="ok",
                             detail={"token": "t0p-s3cret"})
            if tamper_seq is not None:
                async with database.transaction() as conn:
                    await conn.execute(update(audit_events).where(
                        audit_events.c.seq == tamper_seq).values(actor="someone-else"))
        finally:
            await database.aclose()

    asyncio.run(run())


def test_verify_intact(db_target: DbTarget) -> None:
    _seed(db_target, 4)
    result = runner.invoke(app, ["verify"], env=db_target.env)
    assert result.exit_code == 0, result.output
    assert "chain intact: 5 events" in result.output


def test_verify_names_the_first_bad_event(db_target: DbTarget) -> None:
    _seed(db_target, 6, tamper_seq=3)
    result = runner.invoke(app, ["verify"], env=db_target.env)
    assert result.exit_code == 1
    assert "chain broken at event 3 (modified)" in result.output
    assert "2 events verified" in result.output


def test_show_lists_recent_events(db_target: DbTarget) -> None:
    _seed(db_target, 5)
    result = runner.invoke(app, ["show", "--limit", "2"], env={**db_target.env, "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "connection.remove" in result.output
    assert "[redacted]" in result.output
    assert "t0p-s3cret" not in result.output
    assert "last 2 events" in result.output


def test_show_empty(db_target: DbTarget) -> None:
    result = runner.invoke(app, ["show"], env=db_target.env)
    assert result.exit_code == 0
    assert "empty" in result.output
