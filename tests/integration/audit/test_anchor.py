"""Anchors (issue 19 item 6): ``brokerlink audit anchor`` and ``audit verify --anchor``,
and the audit key as the witness that a log was written, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from brokerlink.audit.anchor import parse_anchor, sign_anchor
from brokerlink.audit.log import AUDIT_KEY_FIELD, AUDIT_KEY_OWNER, AuditLog
from brokerlink.audit.verify import Problem, VerifyReport
from brokerlink.bootstrap import load_vault
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database
from tests.dbfixtures import DbTarget
from tests.unit.audit.support import checkpoint_row, delete_seqs, fill, set_checkpoint

from .tamper_cli import invoke, one_line
from .test_tampers import on_database, seed, verify

CHECKPOINT = "audit.checkpoint"


def make_anchor(target: DbTarget, out: Path) -> dict[str, Any]:
    result = invoke(target, "anchor", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"in {out}" in result.output
    anchor: dict[str, Any] = json.loads(out.read_text())
    return anchor


def test_anchor_round_trip(db_target: DbTarget, tmp_path: Path) -> None:
    seed(db_target)
    printed = invoke(db_target, "anchor")
    assert printed.exit_code == 0, printed.output
    [line] = printed.stdout.splitlines()  # one line: ready for a pipe
    assert parse_anchor(line).seq == 8
    out = tmp_path / "anchor.json"
    anchor = make_anchor(db_target, out)
    assert anchor["seq"] == 8
    assert len(anchor["mac"]) == 64

    async def more(_: Database, log: AuditLog) -> None:
        await fill(log, 3)

    on_database(db_target, more)
    result = invoke(db_target, "verify", "--anchor", str(out))
    assert result.exit_code == 0, result.output
    assert "anchor matches: event 8" in result.output
    assert "chain intact: 11 events" in result.output


def test_anchor_catches_a_cut_tail_with_replayed_checkpoints(db_target: DbTarget,
                                                             tmp_path: Path) -> None:
    # The attack the checkpoints cannot see: keep copies of the row and the file at 5
    # events, later cut the tail and put the old (authentic) copies back.
    saved: dict[str, Any] = {}

    async def five(database: Database, log: AuditLog) -> None:
        await fill(log, 5)
        saved.update(await checkpoint_row(database))

    on_database(db_target, five)
    old_file = (db_target.home / CHECKPOINT).read_bytes()

    async def three(_: Database, log: AuditLog) -> None:
        await fill(log, 3)

    on_database(db_target, three)
    out = tmp_path / "anchor.json"
    make_anchor(db_target, out)

    async def cut(database: Database, _: AuditLog) -> None:
        await delete_seqs(database, 6, 7, 8)
        await set_checkpoint(database, **{k: v for k, v in saved.items() if k != "id"})

    on_database(db_target, cut)
    (db_target.home / CHECKPOINT).write_bytes(old_file)
    assert verify(db_target).ok  # without the anchor, nothing on the machine can tell
    result = invoke(db_target, "verify", "--anchor", str(out))
    assert result.exit_code == 1
    line = one_line(result.output, "3 event(s) were cut off the tail")
    assert line.startswith("chain broken at event 6 (truncated)")


def _edited(anchor: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**anchor, **changes})


@pytest.mark.parametrize(("edit", "phrase"), [
    ({"seq": 5}, "the anchor fails its MAC: it was forged or edited"),
    ({"hash": "ab" * 32}, "the anchor fails its MAC: it was forged or edited"),
    ({"mac": "cd" * 32}, "the anchor fails its MAC: it was forged or edited"),
    ({"made_at": "2001-01-01T00:00:00.000000+00:00"}, "the anchor fails its MAC"),
    ({"key_id": "0123456789abcdef"}, "not made with this log's audit key"),
])
def test_forged_or_edited_anchor_is_refused(db_target: DbTarget, tmp_path: Path,
                                            edit: dict[str, Any], phrase: str) -> None:
    seed(db_target)
    out = tmp_path / "anchor.json"
    anchor = make_anchor(db_target, out)
    out.write_text(_edited(anchor, **edit))
    result = invoke(db_target, "verify", "--anchor", str(out))
    assert result.exit_code == 1
    assert one_line(result.output, phrase).startswith("verification failed (bad_anchor)")


def test_anchor_from_another_installation_is_refused(
        db_target: DbTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db_target)
    out = tmp_path / "anchor.json"
    make_anchor(db_target, out)
    # A second installation: a fresh database and vault key under another home.
    other = DbTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path}/other/brokerlink.db", None,
                     tmp_path / "other")
    monkeypatch.setenv("BROKERLINK_HOME", str(other.home))
    seed(other)
    result = invoke(other, "verify", "--anchor", str(out))
    assert result.exit_code == 1
    one_line(result.output, "not made with this log's audit key")


def test_authentic_anchor_for_a_rewritten_event(db_target: DbTarget) -> None:
    # Only someone holding the audit key could rewrite the chain; the anchor still holds.
    seed(db_target)

    async def check(database: Database, log: AuditLog) -> VerifyReport:
        key = await (await load_vault(database)).system_key(AUDIT_KEY_OWNER,
                                                            AUDIT_KEY_FIELD)
        forged = sign_anchor(key, 4, "ab" * 32, utc_now())
        return await log.verify(anchor=forged)

    report = on_database(db_target, check)
    assert report.problem is Problem.ANCHOR_MISMATCH
    assert report.first_bad_seq == 4


@pytest.mark.parametrize(("content", "phrase"), [
    (b"not an anchor", "is not JSON"),
    (b"\xff\xfe\x00", "is not UTF-8"),
    (b'{"format":"something-else"}', "is not a brokerlink audit anchor"),
    (b" " * 100_000, "too large"),
    (None, "is a directory"),
])
def test_malformed_anchor_file_is_one_line(db_target: DbTarget, tmp_path: Path,
                                           content: bytes | None, phrase: str) -> None:
    seed(db_target)
    path = tmp_path / "anchor.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = invoke(db_target, "verify", "--anchor", str(path))
    assert result.exit_code == 1
    assert one_line(result.output, phrase).startswith("error: anchor file")


def test_missing_anchor_file_is_one_line(db_target: DbTarget, tmp_path: Path) -> None:
    seed(db_target)
    result = invoke(db_target, "verify", "--anchor", str(tmp_path / "nowhere.json"))
    assert result.exit_code == 1
    one_line(result.output, "does not exist")


def test_a_tampered_log_is_never_anchored(db_target: DbTarget, tmp_path: Path) -> None:
    seed(db_target)

    async def edit(database: Database, _: AuditLog) -> None:
        async with database.transaction() as conn:
            await conn.execute(text("UPDATE audit_events SET outcome = 'x' WHERE seq = 2"))

    on_database(db_target, edit)
    out = tmp_path / "anchor.json"
    result = invoke(db_target, "anchor", "--out", str(out))
    assert result.exit_code == 1
    one_line(result.output, "cannot be anchored: event 2 fails its MAC")
    assert not out.exists()


def test_an_empty_log_is_not_anchored_and_not_keyed(db_target: DbTarget) -> None:
    result = invoke(db_target, "anchor")
    assert result.exit_code == 1
    one_line(result.output, "there is nothing to anchor")
    # Neither anchor, verify nor show created the audit key: the log is still "never
    # written", so it verifies.
    assert invoke(db_target, "show").exit_code == 0
    verified = invoke(db_target, "verify")
    assert verified.exit_code == 0, verified.output
    assert "never been written" in verified.output

    async def key(database: Database, _: AuditLog) -> object:
        return await (await load_vault(database)).get_secret(AUDIT_KEY_OWNER,
                                                             AUDIT_KEY_FIELD)

    assert on_database(db_target, key) is None


async def _wipe_with_key(database: Database, _: AuditLog) -> None:
    async with database.transaction() as conn:
        await conn.execute(text("DELETE FROM audit_events"))
        await conn.execute(text("DELETE FROM audit_checkpoints"))
    await (await load_vault(database)).delete_secret(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD)


def test_wipe_with_the_key_is_caught_by_the_file_or_an_anchor(db_target: DbTarget,
                                                              tmp_path: Path) -> None:
    seed(db_target)
    out = tmp_path / "anchor.json"
    make_anchor(db_target, out)
    on_database(db_target, _wipe_with_key)
    # The checkpoint file survived: it says events existed.
    kept = invoke(db_target, "verify")
    assert kept.exit_code == 1
    assert one_line(kept.output, "the log was wiped, key and all").startswith(
        "verification failed (wiped)")
    # Everything on the machine gone too: only the anchor kept elsewhere can tell. This
    # is the documented limit (README_AUDIT: losing the anchor loses this check).
    (db_target.home / CHECKPOINT).unlink()
    assert invoke(db_target, "verify").exit_code == 0
    anchored = invoke(db_target, "verify", "--anchor", str(out))
    assert anchored.exit_code == 1
    one_line(anchored.output, "the anchor records event 8 but the log has no events")


def test_deleted_key_with_events_is_one_line(db_target: DbTarget) -> None:
    seed(db_target)

    async def drop_key(database: Database, _: AuditLog) -> None:
        await (await load_vault(database)).delete_secret(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD)

    on_database(db_target, drop_key)
    for command in ("verify", "show", "anchor"):
        result = invoke(db_target, command)
        assert result.exit_code == 1, (command, result.output)
        one_line(result.output, "the audit key is missing from the vault")


def test_missing_checkpoint_file_can_be_allowed(db_target: DbTarget) -> None:
    seed(db_target)
    (db_target.home / CHECKPOINT).unlink()
    assert invoke(db_target, "verify").exit_code == 1
    result = invoke(db_target, "verify", "--allow-missing-checkpoint-file")
    assert result.exit_code == 0, result.output
    one_line(result.output, "note: no checkpoint file at")
    assert "chain intact: 8 events" in result.output


def test_checkpoint_file_directory_does_not_break_appends(db_target: DbTarget) -> None:
    seed(db_target)
    path = db_target.home / CHECKPOINT
    path.unlink()
    path.mkdir()

    async def more(_: Database, log: AuditLog) -> None:
        await fill(log, 1)  # the damaged mirror is left alone as evidence

    on_database(db_target, more)
    assert path.is_dir()
    one_line(invoke(db_target, "verify").output, "is a directory")
    shutil.rmtree(path)
