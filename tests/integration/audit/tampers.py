# ruff: noqa: S608  (the attacker's SQL, built from constants in this file only)
"""Every tamper of issue 19 items 5 and 6 (and the classic ones), applied like an attacker:
raw SQL on the database, plain file operations on the checkpoint mirror.

Each ``Tamper`` edits a freshly seeded log of ``EVENTS`` events and names the problem
``verify`` must report and a phrase its one-line reason must contain. Where a backend's
types forbid a value (PostgreSQL refuses non-UTF-8 text or a string in a timestamptz),
the attacker first retypes or loosens the column, as anyone with DDL rights can.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from brokerlink.audit.verify import Problem
from brokerlink.storage.engine import Database

EVENTS = 8


@dataclass(frozen=True)
class Scene:
    """What a tamper may touch."""

    database: Database
    checkpoint: Path

    @property
    def sqlite(self) -> bool:
        return self.database.is_sqlite


Apply = Callable[[Scene], Awaitable[None]]


@dataclass(frozen=True)
class Tamper:
    name: str
    apply: Apply
    problem: Problem
    phrase: str
    # The event the report names (None: no event number applies).
    seq: int | None = None
    # PostgreSQL retypes a whole column to bytea, so there every row is damaged and the
    # report names event 1; ``{seq}`` in ``phrase`` is the event expected on the backend.
    bytea_on_postgres: bool = False

    def expected_seq(self, sqlite: bool) -> int | None:
        return 1 if self.bytea_on_postgres and not sqlite else self.seq

    def expected_phrase(self, sqlite: bool) -> str:
        return self.phrase.format(seq=self.expected_seq(sqlite))


async def sql(scene: Scene, *statements: str) -> None:
    async with scene.database.transaction() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def loosen(scene: Scene, table: str = "audit_events") -> None:
    """Drop the table's constraints so any value fits (NULLs, a NULL seq)."""
    if scene.sqlite:
        # SQLite cannot drop constraints: rebuild the table from a copy, as an attacker
        # with the file would; CREATE TABLE AS keeps data and types, no constraints.
        await sql(scene, f"CREATE TABLE loose AS SELECT * FROM {table}",
                  f"DROP TABLE {table}", f"ALTER TABLE loose RENAME TO {table}")
        return
    async with scene.database.transaction() as conn:
        names = (await conn.execute(text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype = 'p'"), {"t": table})).scalars().all()
        for name in names:
            await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        columns = (await conn.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
            "AND table_schema = current_schema()"), {"t": table})).scalars().all()
        for column in columns:
            await conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} "
                                    "DROP NOT NULL"))


async def retype(scene: Scene, column: str, kind: str) -> None:
    """PostgreSQL: make ``column`` text or bytea so it can hold a foreign value."""
    if scene.sqlite:
        return  # any column holds any type already
    using = f"convert_to({column}::text, 'UTF8')" if kind == "bytea" else f"{column}::text"
    await sql(scene, f"ALTER TABLE audit_events ALTER COLUMN {column} TYPE {kind} "
                     f"USING {using}")


# --- item 5: damage that used to raise ----------------------------------------------------


async def checkpoint_is_directory(scene: Scene) -> None:
    scene.checkpoint.unlink()
    scene.checkpoint.mkdir()


async def checkpoint_symlink_loop(scene: Scene) -> None:
    scene.checkpoint.unlink()
    os.symlink(scene.checkpoint.name, scene.checkpoint)  # points at itself: ELOOP


async def checkpoint_garbage(scene: Scene) -> None:
    scene.checkpoint.write_bytes(b"\x00garbage{")


async def checkpoint_not_utf8(scene: Scene) -> None:
    scene.checkpoint.write_bytes(b'{"version":1,"seq":8,"hash":"\xff\xfe"}')


async def checkpoint_short_hash(scene: Scene) -> None:
    data = json.loads(scene.checkpoint.read_text())
    scene.checkpoint.write_text(json.dumps({**data, "hash": data["hash"][:20]}))


async def checkpoint_float_seq(scene: Scene) -> None:
    data = json.loads(scene.checkpoint.read_text())
    scene.checkpoint.write_text(json.dumps({**data, "seq": 8.5}))


async def checkpoint_huge(scene: Scene) -> None:
    scene.checkpoint.write_bytes(b" " * 1_000_000)


async def detail_not_utf8(scene: Scene) -> None:
    if scene.sqlite:
        # SQLite keeps the bytes of a BLOB cast to TEXT as they are: invalid UTF-8 text.
        await sql(scene, "UPDATE audit_events SET detail = CAST(X'7B2280FF227D' AS TEXT) "
                         "WHERE seq = 3")
        return
    # PostgreSQL refuses invalid UTF-8 in text: the attacker retypes the column.
    await retype(scene, "detail", "bytea")
    await sql(scene, "UPDATE audit_events SET detail = '\\x7b2280ff227d'::bytea "
                     "WHERE seq = 3")


async def time_not_a_time(scene: Scene) -> None:
    await retype(scene, "at", "text")
    await sql(scene, "UPDATE audit_events SET at = 'not a time' WHERE seq = 3")


async def time_is_a_number(scene: Scene) -> None:
    await retype(scene, "at", "bytea")
    value = "12345" if scene.sqlite else "'\\x3132'::bytea"
    await sql(scene, f"UPDATE audit_events SET at = {value} WHERE seq = 3")


async def actor_wrong_type(scene: Scene) -> None:
    await retype(scene, "actor", "bytea")
    # SQLite's TEXT affinity turns an integer into text; a BLOB stays a BLOB.
    value = "X'3432'" if scene.sqlite else "'\\x3432'::bytea"
    await sql(scene, f"UPDATE audit_events SET actor = {value} WHERE seq = 3")


async def actor_null(scene: Scene) -> None:
    await loosen(scene)
    await sql(scene, "UPDATE audit_events SET actor = NULL WHERE seq = 3")


async def detail_not_json(scene: Scene) -> None:
    await sql(scene, "UPDATE audit_events SET detail = 'not json at all' WHERE seq = 3")


async def detail_nested_deep(scene: Scene) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    await sql(scene, f"UPDATE audit_events SET detail = '{deep}' WHERE seq = 3")


async def hash_wrong_length(scene: Scene) -> None:
    await sql(scene, "UPDATE audit_events SET hash = 'abc123' WHERE seq = 3")


async def prev_hash_null(scene: Scene) -> None:
    await loosen(scene)
    await sql(scene, "UPDATE audit_events SET prev_hash = NULL WHERE seq = 3")


async def seq_missing(scene: Scene) -> None:
    await loosen(scene)
    await sql(scene, "UPDATE audit_events SET seq = NULL WHERE seq = 8")


async def seq_is_text(scene: Scene) -> None:
    if scene.sqlite:
        await loosen(scene)
        await sql(scene, "UPDATE audit_events SET seq = 'eight' WHERE seq = 8")
        return
    # PostgreSQL: a seq that is not an integer can only be NULL while the column is a
    # bigint; retyping it changes the structure (reported as unreadable elsewhere).
    await seq_missing(scene)


async def checkpoint_row_damaged(scene: Scene) -> None:
    await sql(scene, "UPDATE audit_checkpoints SET mac = 'short'")


# --- item 6: wipes and truncations that used to pass --------------------------------------


async def wipe_everything_but_the_key(scene: Scene) -> None:
    await sql(scene, "DELETE FROM audit_events", "DELETE FROM audit_checkpoints")
    scene.checkpoint.unlink()


async def truncate_and_delete_both_checkpoints(scene: Scene) -> None:
    await sql(scene, "DELETE FROM audit_events WHERE seq > 5", "DELETE FROM audit_checkpoints")
    scene.checkpoint.unlink()


async def truncate_and_delete_row(scene: Scene) -> None:
    await sql(scene, "DELETE FROM audit_events WHERE seq > 5", "DELETE FROM audit_checkpoints")


async def delete_checkpoint_file(scene: Scene) -> None:
    scene.checkpoint.unlink()


async def delete_checkpoint_row(scene: Scene) -> None:
    await sql(scene, "DELETE FROM audit_checkpoints")


async def wipe_events_keep_row(scene: Scene) -> None:
    await sql(scene, "DELETE FROM audit_events")


# --- the classics --------------------------------------------------------------------------


async def edit_event(scene: Scene) -> None:
    await sql(scene, "UPDATE audit_events SET outcome = 'rejected' WHERE seq = 4")


async def reorder_events(scene: Scene) -> None:
    await sql(scene, "UPDATE audit_events SET seq = -4 WHERE seq = 4",
              "UPDATE audit_events SET seq = 4 WHERE seq = 5",
              "UPDATE audit_events SET seq = 5 WHERE seq = -4")


async def delete_middle_event(scene: Scene) -> None:
    await sql(scene, "DELETE FROM audit_events WHERE seq = 4")


async def forge_checkpoint_row(scene: Scene) -> None:
    await sql(scene, f"UPDATE audit_checkpoints SET seq = 5, mac = '{'ab' * 32}'")


async def forge_checkpoint_file(scene: Scene) -> None:
    data = json.loads(scene.checkpoint.read_text())
    scene.checkpoint.write_text(json.dumps({**data, "seq": 5, "mac": "cd" * 32}))


async def append_forged_event(scene: Scene) -> None:
    async with scene.database.transaction() as conn:
        await conn.execute(text(
            "INSERT INTO audit_events (seq, at, actor, connection_id, broker, action, "
            "detail, outcome, prev_hash, hash) SELECT 9, at, actor, connection_id, broker, "
            "action, detail, outcome, hash, :forged FROM audit_events WHERE seq = 8"),
            {"forged": "ef" * 32})


TAMPERS = [
    # item 5
    Tamper("checkpoint file is a directory", checkpoint_is_directory,
           Problem.BAD_CHECKPOINT, "is a directory"),
    Tamper("checkpoint file cannot be read", checkpoint_symlink_loop,
           Problem.BAD_CHECKPOINT, "cannot be read"),
    Tamper("checkpoint file is garbage", checkpoint_garbage, Problem.BAD_CHECKPOINT,
           "is not JSON"),
    Tamper("checkpoint file is not UTF-8", checkpoint_not_utf8, Problem.BAD_CHECKPOINT,
           "is not UTF-8"),
    Tamper("checkpoint file hash is short", checkpoint_short_hash, Problem.BAD_CHECKPOINT,
           "malformed hash"),
    Tamper("checkpoint file seq is a float", checkpoint_float_seq, Problem.BAD_CHECKPOINT,
           "no valid seq"),
    Tamper("checkpoint file is huge", checkpoint_huge, Problem.BAD_CHECKPOINT,
           "too large"),
    Tamper("detail is not UTF-8", detail_not_utf8, Problem.DAMAGED,
           "event {seq} is damaged: its detail is", seq=3, bytea_on_postgres=True),
    Tamper("time is not a time", time_not_a_time, Problem.DAMAGED,
           "event 3 is damaged: its time (at) is text that is not a date and time", seq=3),
    Tamper("time is a number or bytes", time_is_a_number, Problem.DAMAGED,
           "event {seq} is damaged: its time (at) is", seq=3, bytea_on_postgres=True),
    Tamper("actor has the wrong type", actor_wrong_type, Problem.DAMAGED,
           "event {seq} is damaged: its actor is", seq=3, bytea_on_postgres=True),
    Tamper("actor is NULL", actor_null, Problem.DAMAGED,
           "event 3 is damaged: its actor is NULL", seq=3),
    Tamper("detail is not JSON", detail_not_json, Problem.DAMAGED,
           "event 3 is damaged: its detail is not JSON", seq=3),
    Tamper("detail is nested 100,000 deep", detail_nested_deep, Problem.DAMAGED,
           "event 3 is damaged: its detail is JSON nested too deeply", seq=3),
    Tamper("hash has the wrong length", hash_wrong_length, Problem.DAMAGED,
           "event 3 is damaged: its hash is 6 characters long, not 64", seq=3),
    Tamper("prev_hash is NULL", prev_hash_null, Problem.DAMAGED,
           "event 3 is damaged: its prev_hash is NULL", seq=3),
    Tamper("an event lost its sequence number", seq_missing, Problem.DAMAGED,
           "have no usable sequence number"),
    Tamper("an event's sequence number is text", seq_is_text, Problem.DAMAGED,
           "have no usable sequence number"),
    Tamper("checkpoint row is damaged", checkpoint_row_damaged, Problem.BAD_CHECKPOINT,
           "the checkpoint row is damaged: its mac is 5 characters long", seq=8),
    # item 6
    Tamper("every event and both checkpoints deleted", wipe_everything_but_the_key,
           Problem.WIPED, "the audit key exists but there are no events"),
    Tamper("tail cut and both checkpoints deleted", truncate_and_delete_both_checkpoints,
           Problem.MISSING_CHECKPOINT, "both checkpoints (the row and"),
    Tamper("tail cut and the checkpoint row deleted", truncate_and_delete_row,
           Problem.TRUNCATED, "3 event(s) were cut off the tail", seq=6),
    Tamper("checkpoint file deleted (row kept)", delete_checkpoint_file,
           Problem.MISSING_CHECKPOINT, "cannot be ruled out"),
    Tamper("checkpoint row deleted (file kept)", delete_checkpoint_row,
           Problem.MISSING_CHECKPOINT, "the checkpoint row is missing although the log"),
    Tamper("every event deleted, checkpoints kept", wipe_events_keep_row,
           Problem.TRUNCATED, "8 event(s) were cut off the tail", seq=1),
    # the classics
    Tamper("edited event", edit_event, Problem.MODIFIED, "event 4 fails its MAC", seq=4),
    Tamper("reordered events", reorder_events, Problem.REORDERED,
           "events 4 and 5 are out of order", seq=4),
    Tamper("deleted middle event", delete_middle_event, Problem.DELETED,
           "event 4 missing", seq=4),
    Tamper("forged checkpoint row", forge_checkpoint_row, Problem.BAD_CHECKPOINT,
           "the checkpoint row fails its MAC", seq=5),
    Tamper("forged checkpoint file", forge_checkpoint_file, Problem.BAD_CHECKPOINT,
           "fails its MAC", seq=5),
    Tamper("forged event appended", append_forged_event, Problem.INSERTED,
           "event 9 lies beyond the checkpointed head", seq=9),
]
