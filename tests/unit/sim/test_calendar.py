"""Market calendars: NYSE hours, holidays, early closes, DST, and the always-open market."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from brokerlink.sim.calendar import (
    AlwaysOpenCalendar,
    ExchangeCalendar,
    MarketCalendar,
    MarketSession,
)

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


@pytest.fixture(scope="module")
def xnys() -> ExchangeCalendar:
    return ExchangeCalendar()


def test_both_calendars_satisfy_the_protocol(xnys: ExchangeCalendar) -> None:
    assert isinstance(xnys, MarketCalendar)
    assert isinstance(AlwaysOpenCalendar(), MarketCalendar)
    assert not xnys.always_open
    assert AlwaysOpenCalendar().always_open


@pytest.mark.parametrize(
    ("at", "state"),
    [
        (ny(2026, 11, 24, 3, 59), MarketSession.CLOSED),
        (ny(2026, 11, 24, 4, 0), MarketSession.PRE),
        (ny(2026, 11, 24, 9, 29), MarketSession.PRE),
        (ny(2026, 11, 24, 9, 30), MarketSession.REGULAR),
        (ny(2026, 11, 24, 15, 59), MarketSession.REGULAR),
        (ny(2026, 11, 24, 16, 0), MarketSession.POST),
        (ny(2026, 11, 24, 19, 59), MarketSession.POST),
        (ny(2026, 11, 24, 20, 0), MarketSession.CLOSED),
        (ny(2026, 11, 28, 12, 0), MarketSession.CLOSED),  # Saturday
        (ny(2026, 11, 29, 12, 0), MarketSession.CLOSED),  # Sunday
    ],
)
def test_session_states_of_an_ordinary_tuesday_and_a_weekend(
    xnys: ExchangeCalendar, at: datetime, state: MarketSession
) -> None:
    assert xnys.session_state(at) is state


def test_is_open_accepts_extended_hours_only_when_asked(xnys: ExchangeCalendar) -> None:
    pre = ny(2026, 11, 24, 8, 0)
    assert not xnys.is_open(pre)
    assert xnys.is_open(pre, extended_hours=True)
    assert xnys.is_open(ny(2026, 11, 24, 10, 0))
    assert not xnys.is_open(ny(2026, 11, 24, 21, 0), extended_hours=True)


@pytest.mark.parametrize("holiday", [date(2026, 12, 25), date(2026, 11, 26), date(2026, 1, 1)])
def test_holidays_are_closed_all_day(xnys: ExchangeCalendar, holiday: date) -> None:
    assert not xnys.is_trading_day(holiday)
    noon = datetime(holiday.year, holiday.month, holiday.day, 12, tzinfo=NY)
    assert xnys.session_for(noon) is None
    assert xnys.session_state(noon) is MarketSession.CLOSED
    assert not xnys.is_open(noon, extended_hours=True)


def test_day_after_thanksgiving_closes_early(xnys: ExchangeCalendar) -> None:
    session = xnys.session_for(ny(2026, 11, 27, 10))
    assert session is not None
    assert session.early_close
    assert session.open == ny(2026, 11, 27, 9, 30)
    assert session.close == ny(2026, 11, 27, 13, 0)
    assert session.post_close == ny(2026, 11, 27, 17, 0)
    assert xnys.session_state(ny(2026, 11, 27, 12, 59)) is MarketSession.REGULAR
    assert xnys.session_state(ny(2026, 11, 27, 13, 0)) is MarketSession.POST
    assert xnys.session_state(ny(2026, 11, 27, 17, 0)) is MarketSession.CLOSED
    assert xnys.next_close(ny(2026, 11, 27, 10)) == ny(2026, 11, 27, 13, 0)


def test_session_times_are_utc_and_follow_dst(xnys: ExchangeCalendar) -> None:
    summer = xnys.session_for(ny(2026, 7, 15, 12))  # EDT, UTC-4
    winter = xnys.session_for(ny(2026, 1, 15, 12))  # EST, UTC-5
    assert summer is not None
    assert winter is not None
    assert summer.open == datetime(2026, 7, 15, 13, 30, tzinfo=UTC)
    assert summer.open.tzinfo is UTC
    assert summer.pre_open == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    assert summer.post_close == datetime(2026, 7, 16, 0, 0, tzinfo=UTC)
    assert winter.open == datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
    assert winter.close == datetime(2026, 1, 15, 21, 0, tzinfo=UTC)
    assert not winter.early_close


def test_post_market_after_utc_midnight_belongs_to_the_new_york_day(
    xnys: ExchangeCalendar,
) -> None:
    # 00:30 UTC on Wednesday is 19:30 EST on Tuesday: still Tuesday's post-market.
    at = datetime(2026, 1, 14, 0, 30, tzinfo=UTC)
    assert xnys.session_state(at) is MarketSession.POST
    session = xnys.session_for(at)
    assert session is not None
    assert session.date == date(2026, 1, 13)


def test_dst_change_weekend_and_the_monday_after(xnys: ExchangeCalendar) -> None:
    # Clocks sprang forward on Sunday 2026-03-08: Friday opens 14:30 UTC, Monday 13:30.
    assert xnys.next_open(ny(2026, 3, 6, 17)) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    friday = xnys.session_for(ny(2026, 3, 6, 12))
    assert friday is not None
    assert friday.open == datetime(2026, 3, 6, 14, 30, tzinfo=UTC)


def test_next_open_is_strictly_after(xnys: ExchangeCalendar) -> None:
    tuesday_open = ny(2026, 11, 24, 9, 30)
    # Before the open (even in pre-market): today's open.
    assert xnys.next_open(ny(2026, 11, 24, 5)) == tuesday_open
    # While open, and at the very opening instant: the next trading day's open.
    assert xnys.next_open(tuesday_open) == ny(2026, 11, 25, 9, 30)
    assert xnys.next_open(ny(2026, 11, 24, 12)) == ny(2026, 11, 25, 9, 30)
    # Wednesday evening: Thanksgiving is skipped.
    assert xnys.next_open(ny(2026, 11, 25, 18)) == ny(2026, 11, 27, 9, 30)
    # Christmas Eve afternoon (early close): Christmas is skipped.
    assert xnys.next_open(ny(2026, 12, 24, 14)) == ny(2026, 12, 28, 9, 30)


def test_next_close_is_today_while_open_else_the_next_session(xnys: ExchangeCalendar) -> None:
    assert xnys.next_close(ny(2026, 11, 24, 11)) == ny(2026, 11, 24, 16)
    assert xnys.next_close(ny(2026, 11, 24, 6)) == ny(2026, 11, 24, 16)
    assert xnys.next_close(ny(2026, 11, 24, 16)) == ny(2026, 11, 25, 16)
    assert xnys.next_close(ny(2026, 11, 28, 12)) == ny(2026, 11, 30, 16)


def test_sessions_between_skips_weekends_and_holidays(xnys: ExchangeCalendar) -> None:
    sessions = xnys.sessions_between(date(2026, 11, 23), date(2026, 11, 30))
    assert [s.date for s in sessions] == [
        date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25),
        date(2026, 11, 27), date(2026, 11, 30),
    ]
    assert [s.early_close for s in sessions] == [False, False, False, True, False]
    assert xnys.sessions_between(date(2026, 11, 28), date(2026, 11, 29)) == []
    with pytest.raises(ValueError, match="start"):
        xnys.sessions_between(date(2026, 12, 1), date(2026, 11, 1))


def test_dates_outside_the_supported_range_raise_a_clear_error(xnys: ExchangeCalendar) -> None:
    with pytest.raises(ValueError, match="outside the XNYS calendar's supported range"):
        xnys.session_state(datetime(2050, 1, 3, 15, tzinfo=UTC))
    with pytest.raises(ValueError, match="supported range"):
        xnys.is_trading_day(date(1990, 1, 2))
    with pytest.raises(ValueError, match="supported range"):
        xnys.sessions_between(date(2026, 1, 1), date(2060, 1, 1))
    with pytest.raises(ValueError, match="ExchangeCalendar"):
        xnys.next_open(datetime(2035, 12, 31, 22, tzinfo=UTC))


def test_naive_times_are_refused(xnys: ExchangeCalendar) -> None:
    naive = datetime(2026, 11, 24, 15)  # noqa: DTZ001 - the point of the test
    xnys.session_state(ny(2026, 11, 24, 10))  # warm the fast path first
    with pytest.raises(ValueError, match="timezone-aware"):
        xnys.session_state(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        xnys.next_open(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        AlwaysOpenCalendar().is_open(naive)


def test_unknown_calendar_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown exchange calendar"):
        ExchangeCalendar("NOPE")


def test_ten_thousand_lookups_across_a_week_stay_correct(xnys: ExchangeCalendar) -> None:
    # The paper broker asks on every order; the answers must not drift with caching.
    start = ny(2026, 11, 23, 0)
    counts: dict[MarketSession, int] = dict.fromkeys(MarketSession, 0)
    for i in range(10_000):
        at = start + timedelta(seconds=61 * i)  # ~7 days in 61 s steps
        state = xnys.session_state(at)
        session = xnys.session_for(at)
        expected = MarketSession.CLOSED if session is None else session.state_at(at)
        assert state is expected
        counts[state] += 1
    assert all(counts.values())
    # Thanksgiving week: three full sessions and a half day, about 23 regular hours.
    regular_hours = counts[MarketSession.REGULAR] * 61 / 3600
    assert 22.5 < regular_hours < 23.5


def test_repeated_lookup_of_one_instant_is_stable(xnys: ExchangeCalendar) -> None:
    at = ny(2026, 11, 24, 10)
    assert {xnys.session_state(at) for _ in range(10_000)} == {MarketSession.REGULAR}


def test_always_open_calendar_is_open_every_instant() -> None:
    cal = AlwaysOpenCalendar()
    for at in (ny(2026, 12, 25, 3), ny(2026, 11, 28, 23, 59), ny(2026, 3, 8, 2, 30)):
        assert cal.session_state(at) is MarketSession.REGULAR
        assert cal.is_open(at)
    assert cal.is_trading_day(date(2026, 12, 25))


def test_always_open_calendar_days_run_midnight_to_midnight_new_york() -> None:
    cal = AlwaysOpenCalendar()
    at = ny(2026, 11, 24, 15)
    session = cal.session_for(at)
    assert session.date == date(2026, 11, 24)
    assert session.open == session.pre_open == ny(2026, 11, 24, 0)
    assert session.close == session.post_close == ny(2026, 11, 25, 0)
    assert cal.next_close(at) == ny(2026, 11, 25, 0)
    assert cal.next_open(at) == ny(2026, 11, 25, 0)
    assert cal.next_open(at) > at
    days = cal.sessions_between(date(2026, 11, 27), date(2026, 11, 30))
    assert [d.date.day for d in days] == [27, 28, 29, 30]
    # A DST day is 23 hours long.
    spring = cal.session_for(ny(2026, 3, 8, 12))
    assert spring.close - spring.open == timedelta(hours=23)
