"""SimClock: virtual time that moves only forward and only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from brokerlink.sim.clock import SimClock

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_starts_where_told_and_stays_there() -> None:
    clock = SimClock(START)
    assert clock.now() == START
    assert clock.now() == START


def test_default_start_is_aware_utc_whole_seconds() -> None:
    now = SimClock().now()
    assert now.tzinfo is UTC
    assert now.microsecond == 0


def test_start_in_another_zone_is_stored_as_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    clock = SimClock(datetime(2026, 11, 24, 10, 0, tzinfo=eastern))
    assert clock.now() == START
    assert clock.now().tzinfo is UTC


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2026, 11, 24, 15, 0))  # noqa: DTZ001 - the point of the test


def test_advance_moves_forward_and_returns_the_new_time() -> None:
    clock = SimClock(START)
    assert clock.advance(timedelta(minutes=5)) == START + timedelta(minutes=5)
    assert clock.advance(timedelta(0)) == START + timedelta(minutes=5)
    assert clock.now() == START + timedelta(minutes=5)


def test_advance_backwards_is_refused() -> None:
    clock = SimClock(START)
    with pytest.raises(ValueError, match="negative"):
        clock.advance(timedelta(seconds=-1))
    assert clock.now() == START


def test_set_jumps_forward_and_converts_to_utc() -> None:
    clock = SimClock(START)
    clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=timezone(timedelta(hours=-5))))
    assert clock.now() == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    clock.set(clock.now())  # same instant is fine
    assert clock.now().tzinfo is UTC


def test_set_backwards_or_naive_is_refused() -> None:
    clock = SimClock(START)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(START - timedelta(microseconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 11, 25, 15, 0))  # noqa: DTZ001 - the point of the test
    assert clock.now() == START
