"""Stored rows are parsed without trust: any value in any column becomes a record or a
``DamagedRecord`` naming the column, never an exception and never the value itself."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from brokerlink.audit.anchor import AnchorError, parse_anchor, sign_anchor
from brokerlink.audit.rows import UndecodableText, checkpoint_from_values, event_from_values
from brokerlink.audit.store import AuditEventRecord, CheckpointRecord, DamagedRecord

GOOD: dict[str, Any] = {
    "seq": 3, "at": "2025-01-02 03:04:05.000006", "actor": "service", "action": "x",
    "detail": '{"n":1}', "outcome": "ok", "prev_hash": "0" * 64, "hash": "a" * 64,
    "connection_id": None, "broker": "paper",
}
ODD = [None, True, 7, 1.5, float("nan"), b"\xff", UndecodableText(2), "", "\x1b[31mred",
       "x" * 10_000, "[" * 5_000, datetime(2025, 1, 1, tzinfo=UTC), object()]


def test_a_good_row_is_an_event_in_utc() -> None:
    event = event_from_values(GOOD)
    assert isinstance(event, AuditEventRecord)
    assert event.at == datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(("column", "value"), list(itertools.product(GOOD, ODD)))
def test_any_value_in_any_column_is_reported_not_raised(column: str, value: object) -> None:
    parsed = event_from_values({**GOOD, column: value})
    if isinstance(parsed, DamagedRecord):
        assert parsed.reason
        assert "red" not in parsed.reason  # never quoted
        assert "xxxx" not in parsed.reason
    else:  # some odd values are legal in some columns (e.g. any text as an actor)
        assert isinstance(parsed, AuditEventRecord)


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("seq", None, "it has no sequence number"),
    ("seq", True, "its sequence number is a boolean, not an integer"),
    ("detail", UndecodableText(3), "its detail is not UTF-8"),
    ("detail", b"{}", "its detail is bytes, not text"),
    ("detail", "[1]", "its detail is JSON but not an object"),
    ("at", "yesterday", "its time (at) is text that is not a date and time"),
    ("at", 12345, "its time (at) is an integer, not a time"),
    ("hash", "A" * 64, "its hash is not lowercase hexadecimal"),
    ("prev_hash", "0" * 63, "its prev_hash is 63 characters long, not 64"),
])
def test_damage_is_named(column: str, value: object, reason: str) -> None:
    parsed = event_from_values({**GOOD, column: value})
    assert isinstance(parsed, DamagedRecord)
    assert reason in parsed.reason


def test_checkpoint_rows() -> None:
    good = {"seq": 4, "hash": "b" * 64, "mac": "c" * 64,
            "updated_at": datetime(2025, 1, 1, tzinfo=UTC)}
    assert isinstance(checkpoint_from_values(good), CheckpointRecord)
    for column, value in itertools.product(good, ODD):
        assert isinstance(checkpoint_from_values({**good, column: value}),
                          CheckpointRecord | DamagedRecord)
    damaged = checkpoint_from_values({**good, "seq": -1})
    assert isinstance(damaged, DamagedRecord)
    assert "negative" in damaged.reason


def test_anchor_text_round_trips_and_is_strict() -> None:
    anchor = sign_anchor(b"k" * 32, 9, "d" * 64, datetime(2025, 1, 1, tzinfo=UTC))
    assert parse_anchor(anchor.to_text()) == anchor
    for bad in ("", "null", "[]", '{"format":"brokerlink-audit-anchor"}',
                anchor.to_text().replace('"seq":9', '"seq":true'),
                anchor.to_text().replace('"seq":9', '"seq":0'),
                anchor.to_text().replace('+00:00"', '"'), "\ud800", "[" * 100_000):
        with pytest.raises(AnchorError):
            parse_anchor(bad)
