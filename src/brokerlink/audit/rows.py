"""Reading stored audit rows without trusting them.

Whoever can write to the database can put anything in an audit row: NULLs, integers
where text belongs, bytes that are not UTF-8, a time that is not a time, a hash of the
wrong length. The store hands back the raw column values (see ``UndecodableText``) and
these functions turn each row into either a well-formed record or a ``DamagedRecord``
saying what is wrong with it, so verification can report damage instead of raising.
Reasons name the column and the kind of damage, never the stored value (it is the
attacker's text, and may be huge or hold terminal escapes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from brokerlink.audit.store import AuditEventRecord, CheckpointRecord, DamagedRecord

__all__ = [
    "HASH_LENGTH",
    "UndecodableText",
    "checkpoint_from_values",
    "event_from_values",
    "hash_problem",
]

HASH_LENGTH = 64
_HEX = re.compile(r"[0-9a-f]{64}")
# The detail is canonical JSON written by brokerlink: far shallower than this.
_MAX_DETAIL_DEPTH = 64


@dataclass(frozen=True, slots=True)
class UndecodableText:
    """A text column whose stored bytes are not UTF-8 (SQLite keeps what it is given)."""

    size: int


def _noun(value: object) -> str:
    """What a stored value is, in words, without quoting it."""
    if value is None:
        return "NULL"
    if isinstance(value, UndecodableText):
        return "text that is not UTF-8"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "a time"
    return f"a {type(value).__name__}"


def _kind(value: object, wanted: str = "text") -> str:
    """``value`` described as not being ``wanted`` ("NULL", "not UTF-8", "bytes, not
    text", ...)."""
    if value is None:
        return "NULL"
    if isinstance(value, UndecodableText):
        return "not UTF-8"
    return f"{_noun(value)}, not {wanted}"


def _text(values: Mapping[str, object], column: str, problems: list[str], *,
          nullable: bool = False) -> str | None:
    value = values.get(column)
    if isinstance(value, str):
        return value
    if value is None and nullable:
        return None
    problems.append(f"its {column} is {_kind(value)}")
    return None


def hash_problem(value: object, column: str) -> str | None:
    """Why ``value`` is not a stored hash/MAC (64 lowercase hex digits), or ``None``."""
    if not isinstance(value, str):
        return f"its {column} is {_kind(value)}"
    if len(value) != HASH_LENGTH:
        return f"its {column} is {len(value)} characters long, not {HASH_LENGTH}"
    if not _HEX.fullmatch(value):
        return f"its {column} is not lowercase hexadecimal"
    return None


def _seq(value: object) -> int | None:
    # bool is an int subclass; a "True" sequence number is damage, not event 1.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _moment(value: object, column: str, problems: list[str]) -> datetime | None:
    """An aware UTC datetime from a driver value (PostgreSQL: datetime; SQLite: the
    naive-UTC text SQLAlchemy stores), or a problem. Naive values are UTC, as stored."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.isascii():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        what = ("text that is not a date and time" if isinstance(value, str)
                else _kind(value, "a time"))
        problems.append(f"its time ({column}) is {what}")
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        problems.append(f"its time ({column}) is out of range")
        return None


def _json_depth_ok(text: str) -> bool:
    # Counting brackets outside strings bounds the depth before json.loads recurses.
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > _MAX_DETAIL_DEPTH:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _detail(values: Mapping[str, object], problems: list[str]) -> str | None:
    detail = _text(values, "detail", problems)
    if detail is None:
        return None
    if not _json_depth_ok(detail):
        problems.append("its detail is JSON nested too deeply")
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        problems.append("its detail is not JSON")
        return None
    if not isinstance(parsed, dict):
        problems.append("its detail is JSON but not an object")
        return None
    return detail


def event_from_values(values: Mapping[str, object]) -> AuditEventRecord | DamagedRecord:
    """The event in one raw ``audit_events`` row, or what is wrong with it.

    ``values`` maps column names to what the driver returned (``UndecodableText`` for
    text that is not UTF-8). Never raises for any content.
    """
    problems: list[str] = []
    seq = _seq(values.get("seq"))
    if seq is None:
        raw = values.get("seq")
        problems.append("it has no sequence number" if raw is None
                        else f"its sequence number is {_kind(raw, 'an integer')}")
    at = _moment(values.get("at"), "at", problems)
    actor = _text(values, "actor", problems)
    action = _text(values, "action", problems)
    outcome = _text(values, "outcome", problems)
    connection_id = _text(values, "connection_id", problems, nullable=True)
    broker = _text(values, "broker", problems, nullable=True)
    detail = _detail(values, problems)
    for column in ("prev_hash", "hash"):
        problem = hash_problem(values.get(column), column)
        if problem is not None:
            problems.append(problem)
    prev_hash, digest = values.get("prev_hash"), values.get("hash")
    if (problems or seq is None or at is None or actor is None or action is None
            or outcome is None or detail is None or not isinstance(prev_hash, str)
            or not isinstance(digest, str)):
        return DamagedRecord(seq=seq, reason="; ".join(problems) or "it is malformed")
    return AuditEventRecord(seq=seq, at=at, actor=actor, action=action, detail=detail,
                            outcome=outcome, prev_hash=prev_hash, hash=digest,
                            connection_id=connection_id, broker=broker)


def checkpoint_from_values(values: Mapping[str, object]) -> CheckpointRecord | DamagedRecord:
    """The checkpoint in the raw ``audit_checkpoints`` row, or what is wrong with it.

    Never raises for any content.
    """
    problems: list[str] = []
    seq = _seq(values.get("seq"))
    if seq is None:
        problems.append(f"its seq is {_kind(values.get('seq'), 'an integer')}")
    elif seq < 0:
        problems.append("its seq is negative")
    for column in ("hash", "mac"):
        problem = hash_problem(values.get(column), column)
        if problem is not None:
            problems.append(problem)
    updated_at = _moment(values.get("updated_at"), "updated_at", problems)
    digest, mac = values.get("hash"), values.get("mac")
    if (problems or seq is None or updated_at is None or not isinstance(digest, str)
            or not isinstance(mac, str)):
        return DamagedRecord(seq=seq, reason="; ".join(problems) or "it is malformed")
    return CheckpointRecord(seq=seq, hash=digest, mac=mac, updated_at=updated_at)
