"""Market hours: regular and extended sessions, holidays, early closes and DST.

Two calendars share one protocol, :class:`MarketCalendar`:

* :class:`ExchangeCalendar` reads an exchange's real schedule (XNYS by default) from
  the ``exchange_calendars`` package once, turns it into plain ``datetime`` values, and
  answers every later question with dictionary look-ups and comparisons. The paper
  broker asks on every order, so ``session_state`` must cost microseconds, not the
  ~100 us of a pandas look-up.
* :class:`AlwaysOpenCalendar` is open at every instant, for tests and 24/7 markets.

Extended hours follow US equity conventions: pre-market from 04:00 local time to the
open, post-market from the close to 20:00 local time, or to 17:00 on early-close days.
Every interval is half-open: the market is REGULAR from ``open`` inclusive to ``close``
exclusive, and likewise for PRE and POST.
"""

from __future__ import annotations

import functools
import warnings
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

DEFAULT_START = date(2015, 1, 1)
"""First date an :class:`ExchangeCalendar` covers unless told otherwise."""
DEFAULT_END = date(2035, 12, 31)
"""Last date covered by default. Fixed, not relative to today, so a run is repeatable."""

_PRE_OPEN = time(4, 0)
_POST_CLOSE = time(20, 0)
_EARLY_POST_CLOSE = time(17, 0)


class MarketSession(StrEnum):
    """Which part of the trading day an instant falls in."""

    CLOSED = "closed"
    PRE = "pre"
    REGULAR = "regular"
    POST = "post"


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """One trading day's boundaries, all aware UTC datetimes.

    ``date`` is the exchange-local (New York) date of the session. ``early_close`` is
    true on half days (e.g. the day after Thanksgiving, 13:00 close).
    """

    date: date
    pre_open: datetime
    open: datetime
    close: datetime
    post_close: datetime
    early_close: bool

    def state_at(self, at: datetime) -> MarketSession:
        """The session state at ``at`` within this day (CLOSED outside pre_open..post_close)."""
        if at < self.open:
            return MarketSession.PRE if at >= self.pre_open else MarketSession.CLOSED
        if at < self.close:
            return MarketSession.REGULAR
        return MarketSession.POST if at < self.post_close else MarketSession.CLOSED


@runtime_checkable
class MarketCalendar(Protocol):
    """When the market trades. Every ``at`` must be timezone-aware (naive: ``ValueError``)."""

    @property
    def always_open(self) -> bool:
        """True when every instant is REGULAR (no hours are enforced)."""
        ...

    def session_state(self, at: datetime) -> MarketSession:
        """The session at ``at``: CLOSED, PRE, REGULAR or POST."""
        ...

    def is_open(self, at: datetime, *, extended_hours: bool = False) -> bool:
        """Whether orders can trade at ``at``; ``extended_hours`` also accepts PRE and POST."""
        ...

    def session_for(self, at: datetime) -> SessionTimes | None:
        """The session on ``at``'s exchange-local date, or None if that is not a trading day."""
        ...

    def next_open(self, at: datetime) -> datetime:
        """The first regular open strictly after ``at``.

        While the regular session is open at ``at`` that is the next trading day's open.
        """
        ...

    def next_close(self, at: datetime) -> datetime:
        """The first regular close strictly after ``at``.

        That is the current session's close while it is open (or before it opens that
        day), else the next session's close.
        """
        ...

    def sessions_between(self, start: date, end: date) -> list[SessionTimes]:
        """Every trading session with ``start <= date <= end``, in order."""
        ...

    def is_trading_day(self, d: date) -> bool:
        """Whether ``d`` has a regular session."""
        ...


def _utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:  # the clock's own times: aware, and UTC already
        return at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"market calendar times must be timezone-aware (got naive {at.isoformat()}); "
            "pass e.g. datetime(..., tzinfo=UTC)"
        )
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _local(d: date, t: time, tz: ZoneInfo) -> datetime:
    # Built in the exchange's zone, then converted: zoneinfo applies the right DST offset.
    return datetime.combine(d, t, tzinfo=tz).astimezone(UTC)


def _check_range(start: date, end: date) -> None:
    if start > end:
        raise ValueError(f"start {start} is after end {end}; pass start <= end")


@dataclass(frozen=True, slots=True)
class _Schedule:
    """One exchange's sessions as plain Python values, sorted by date."""

    name: str
    tz: ZoneInfo
    first: date
    last: date
    by_date: dict[date, SessionTimes]
    dates: list[date]
    opens: list[datetime]
    closes: list[datetime]


def _to_datetime(value: Any) -> datetime:
    # pandas.Timestamp -> datetime at the boundary; exchange_calendars gives UTC stamps.
    result = value.to_pydatetime()
    if not isinstance(result, datetime):
        raise TypeError(f"expected a timestamp from exchange_calendars, got {value!r}")
    return result.astimezone(UTC)


@functools.lru_cache(maxsize=8)
def _load_schedule(name: str, start: date, end: date) -> _Schedule:
    """Build (once per process and range) the schedule of ``name`` from exchange_calendars.

    Cached because building an exchange_calendars calendar costs about a second.
    """
    # Imported here, not at the top: importing it costs about a second.
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():
            # exchange_calendars trips pandas deprecation warnings internally; they are
            # not ours to fix and would otherwise surface in every user's log.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            cal = xcals.get_calendar(name, start=start.isoformat(), end=end.isoformat())
            frame = cal.schedule
            early = {_to_datetime(ts).date() for ts in cal.early_closes}
            days = [ts.date() for ts in frame.index]
            opens = [_to_datetime(ts) for ts in frame["open"].tolist()]
            closes = [_to_datetime(ts) for ts in frame["close"].tolist()]
    except xcals.errors.InvalidCalendarName as exc:
        raise ValueError(
            f"unknown exchange calendar {name!r}; use an exchange_calendars code such as XNYS"
        ) from exc
    tz = ZoneInfo(str(cal.tz))
    by_date: dict[date, SessionTimes] = {}
    for day, open_, close in zip(days, opens, closes, strict=True):
        is_early = day in early
        post = _local(day, _EARLY_POST_CLOSE if is_early else _POST_CLOSE, tz)
        by_date[day] = SessionTimes(
            date=day,
            pre_open=min(_local(day, _PRE_OPEN, tz), open_),
            open=open_,
            close=close,
            post_close=max(post, close),
            early_close=is_early,
        )
    return _Schedule(name, tz, start, end, by_date, days, opens, closes)


class ExchangeCalendar:
    """An exchange's real calendar (default XNYS, the NYSE) from ``exchange_calendars``.

    Covers ``start``..``end`` (default :data:`DEFAULT_START`..:data:`DEFAULT_END`); every
    method raises ``ValueError`` for a date outside that range rather than guessing. The
    schedule is built once per process per (name, range) and shared by all instances.

    Raises ``ValueError`` for an unknown calendar name or ``start > end``.
    """

    __slots__ = ("_cache", "_schedule")

    def __init__(
        self, name: str = "XNYS", *, start: date | None = None, end: date | None = None
    ) -> None:
        first = start or DEFAULT_START
        last = end or DEFAULT_END
        _check_range(first, last)
        self._schedule = _load_schedule(name.upper(), first, last)
        # The last answer and the interval it holds for: consecutive orders almost
        # always land in the same interval, so most calls are two comparisons.
        self._cache: tuple[datetime, datetime, MarketSession] | None = None

    @property
    def name(self) -> str:
        return self._schedule.name

    @property
    def always_open(self) -> bool:
        return False

    @property
    def first_date(self) -> date:
        """The first date this calendar can answer for."""
        return self._schedule.first

    @property
    def last_date(self) -> date:
        """The last date this calendar can answer for."""
        return self._schedule.last

    def _check_date(self, d: date) -> None:
        schedule = self._schedule
        if not schedule.first <= d <= schedule.last:
            raise ValueError(
                f"{d} is outside the {schedule.name} calendar's supported range "
                f"{schedule.first}..{schedule.last}; construct "
                "ExchangeCalendar(start=..., end=...) to cover it"
            )

    def _local_date(self, at: datetime) -> date:
        d = at.astimezone(self._schedule.tz).date()
        self._check_date(d)
        return d

    def session_state(self, at: datetime) -> MarketSession:
        """The session at ``at``. Raises ``ValueError`` for naive or out-of-range times."""
        cache = self._cache
        if cache is not None and at.tzinfo is not None and cache[0] <= at < cache[1]:
            return cache[2]
        at = _utc(at)
        session = self._schedule.by_date.get(self._local_date(at))
        if session is None:
            state = MarketSession.CLOSED
            lo, hi = at, at + timedelta(seconds=1)
        else:
            state = session.state_at(at)
            lo, hi = _interval(session, at, state)
        self._cache = (lo, hi, state)
        return state

    def is_open(self, at: datetime, *, extended_hours: bool = False) -> bool:
        """Whether ``at`` is in the regular session (or PRE/POST with ``extended_hours``)."""
        state = self.session_state(at)
        if state is MarketSession.REGULAR:
            return True
        return extended_hours and state is not MarketSession.CLOSED

    def session_for(self, at: datetime) -> SessionTimes | None:
        """The session on ``at``'s New York date, None on weekends and holidays."""
        return self._schedule.by_date.get(self._local_date(_utc(at)))

    def next_open(self, at: datetime) -> datetime:
        """The first regular open strictly after ``at`` (the next day's while open).

        Raises ``ValueError`` when no open falls inside the supported range.
        """
        at = _utc(at)
        self._local_date(at)
        opens = self._schedule.opens
        i = bisect_right(opens, at)
        if i == len(opens):
            raise self._beyond(at, "open")
        return opens[i]

    def next_close(self, at: datetime) -> datetime:
        """The first regular close strictly after ``at``: today's while open, else the next.

        Raises ``ValueError`` when no close falls inside the supported range.
        """
        at = _utc(at)
        self._local_date(at)
        closes = self._schedule.closes
        i = bisect_right(closes, at)
        if i == len(closes):
            raise self._beyond(at, "close")
        return closes[i]

    def _beyond(self, at: datetime, what: str) -> ValueError:
        return ValueError(
            f"no {self._schedule.name} {what} after {at.isoformat()} within the supported "
            f"range (ends {self._schedule.last}); construct ExchangeCalendar(end=...) later"
        )

    def sessions_between(self, start: date, end: date) -> list[SessionTimes]:
        """Trading sessions dated ``start``..``end`` inclusive.

        Raises ``ValueError`` when ``start > end`` or either is outside the range.
        """
        _check_range(start, end)
        self._check_date(start)
        self._check_date(end)
        schedule = self._schedule
        lo = bisect_left(schedule.dates, start)
        hi = bisect_right(schedule.dates, end)
        return [schedule.by_date[d] for d in schedule.dates[lo:hi]]

    def is_trading_day(self, d: date) -> bool:
        """Whether ``d`` has a session. Raises ``ValueError`` outside the supported range."""
        self._check_date(d)
        return d in self._schedule.by_date

    def __repr__(self) -> str:
        s = self._schedule
        return f"ExchangeCalendar({s.name!r}, start={s.first}, end={s.last})"


def _interval(
    session: SessionTimes, at: datetime, state: MarketSession
) -> tuple[datetime, datetime]:
    """The stretch around ``at`` within its local day over which ``state`` holds."""
    if state is MarketSession.REGULAR:
        return session.open, session.close
    if state is MarketSession.PRE:
        return session.pre_open, session.open
    if state is MarketSession.POST:
        return session.close, session.post_close
    # Closed on a trading day: before pre-market or after post-market. Only that
    # instant is cached; the boundaries to neighbouring days are not worth computing.
    return at, at + timedelta(seconds=1)


class AlwaysOpenCalendar:
    """A market that is REGULAR at every instant: no hours, holidays or weekends.

    So that code written for :class:`ExchangeCalendar` (day orders expiring at the close,
    a daily roll of previous closes) still works, every New York calendar day counts as
    one session from local midnight to the next local midnight: ``pre_open == open`` and
    ``close == post_close`` at those midnights, and there is never a PRE or POST state.
    Consistently with the protocol, ``next_open(at)`` is the next midnight (the market
    is already open at ``at``) and ``next_close(at)`` is the coming midnight. Any date
    is supported.
    """

    __slots__ = ()

    @property
    def always_open(self) -> bool:
        return True

    def session_state(self, at: datetime) -> MarketSession:
        """Always REGULAR. Raises ``ValueError`` for a naive ``at``."""
        _utc(at)
        return MarketSession.REGULAR

    def is_open(self, at: datetime, *, extended_hours: bool = False) -> bool:
        """Always True. Raises ``ValueError`` for a naive ``at``."""
        _utc(at)
        return True

    def session_for(self, at: datetime) -> SessionTimes:
        """The day-long session of ``at``'s New York date."""
        return self._session(_utc(at).astimezone(NEW_YORK).date())

    def next_open(self, at: datetime) -> datetime:
        """The next New York midnight after ``at`` (the market is already open at ``at``)."""
        return self.session_for(at).close

    def next_close(self, at: datetime) -> datetime:
        """The next New York midnight after ``at``, when the day's session ends."""
        return self.session_for(at).close

    def sessions_between(self, start: date, end: date) -> list[SessionTimes]:
        """One session per calendar day ``start``..``end`` inclusive.

        Raises ``ValueError`` when ``start > end``.
        """
        _check_range(start, end)
        days = (end - start).days + 1
        return [self._session(start + timedelta(days=i)) for i in range(days)]

    def is_trading_day(self, d: date) -> bool:
        """Always True."""
        return True

    @staticmethod
    def _session(d: date) -> SessionTimes:
        begin = _local(d, time(0), NEW_YORK)
        end = _local(d + timedelta(days=1), time(0), NEW_YORK)
        return SessionTimes(
            date=d, pre_open=begin, open=begin, close=end, post_close=end, early_close=False
        )

    def __repr__(self) -> str:
        return "AlwaysOpenCalendar()"


__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "NEW_YORK",
    "AlwaysOpenCalendar",
    "ExchangeCalendar",
    "MarketCalendar",
    "MarketSession",
    "SessionTimes",
]
