"""``utc_range``: how the interface reads a ``date``/``datetime`` range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from brokerlink.core.dates import utc_range
from brokerlink.core.errors import InvalidOrderError

NEW_YORK_WINTER = timezone(timedelta(hours=-5))


def test_a_date_range_covers_whole_utc_days_end_inclusive() -> None:
    start, end = utc_range(date(2026, 1, 5), date(2026, 1, 6))
    assert start == datetime(2026, 1, 5, tzinfo=UTC)
    assert end == datetime(2026, 1, 6, 23, 59, 59, 999_999, tzinfo=UTC)
    # The next day's first instant is outside; the last microsecond of the end day inside.
    assert end < datetime(2026, 1, 7, tzinfo=UTC)
    assert end + timedelta(microseconds=1) == datetime(2026, 1, 7, tzinfo=UTC)


def test_one_date_both_ends_is_that_whole_day() -> None:
    start, end = utc_range(date(2026, 1, 5), date(2026, 1, 5))
    assert end - start == timedelta(days=1, microseconds=-1)
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


def test_aware_datetimes_are_converted_to_utc_and_kept_exact() -> None:
    local = datetime(2026, 1, 5, 19, 30, tzinfo=NEW_YORK_WINTER)
    start, end = utc_range(local, local + timedelta(hours=1))
    assert start == datetime(2026, 1, 6, 0, 30, tzinfo=UTC)
    assert start.utcoffset() == timedelta(0)
    assert end == datetime(2026, 1, 6, 1, 30, tzinfo=UTC)


def test_a_date_and_a_datetime_mix() -> None:
    moment = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert utc_range(date(2026, 1, 5), moment) == (datetime(2026, 1, 5, tzinfo=UTC), moment)
    start, end = utc_range(moment, date(2026, 1, 5))
    assert (start, end.date(), end.hour) == (moment, date(2026, 1, 5), 23)


def test_a_naive_datetime_is_refused() -> None:
    aware = datetime(2026, 1, 5, 12, tzinfo=UTC)
    naive = aware.replace(tzinfo=None)
    with pytest.raises(InvalidOrderError, match=r"^start .*no time zone"):
        utc_range(naive, aware)
    with pytest.raises(InvalidOrderError, match=r"^end .*no time zone"):
        utc_range(aware, naive)
    with pytest.raises(InvalidOrderError, match="no time zone"):
        utc_range(naive.date(), naive)


def test_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(InvalidOrderError, match="before it starts"):
        utc_range(date(2026, 1, 6), date(2026, 1, 5))
    moment = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with pytest.raises(InvalidOrderError, match="before it starts"):
        utc_range(moment, moment - timedelta(microseconds=1))


def test_an_empty_instant_range_is_allowed() -> None:
    moment = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert utc_range(moment, moment) == (moment, moment)


@pytest.mark.parametrize("value", ["2026-01-05", 20260105, None])
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(InvalidOrderError, match="must be a date or a datetime"):
        utc_range(value, date(2026, 1, 5))  # type: ignore[arg-type]
