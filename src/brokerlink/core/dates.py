"""Date ranges as the interface takes them: a ``date`` covers its whole UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from brokerlink.core.errors import InvalidOrderError


def utc_range(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """``(start, end)`` as aware UTC datetimes, end inclusive.

    A ``date`` start is its day's 00:00 UTC; a ``date`` end is the last microsecond of its
    UTC day, so ``(date(2026, 1, 5), date(2026, 1, 5))`` is all of 5 January. A naive
    ``datetime`` is refused (its zone is unknown). Raises ``InvalidOrderError`` for a naive
    datetime or an end before the start.
    """
    begin = _as_utc(start, end_of_day=False, name="start")
    finish = _as_utc(end, end_of_day=True, name="end")
    if finish < begin:
        raise InvalidOrderError(f"the range ends ({finish.isoformat()}) before it starts "
                                f"({begin.isoformat()}); swap start and end")
    return begin, finish


def _as_utc(value: date | datetime, *, end_of_day: bool, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidOrderError(f"{name} {value.isoformat()} has no time zone; pass an "
                                    "aware datetime (UTC) or a date")
        return value.astimezone(UTC)
    if isinstance(value, date):
        midnight = datetime.combine(value, time(0), tzinfo=UTC)
        return midnight + timedelta(days=1, microseconds=-1) if end_of_day else midnight
    raise InvalidOrderError(f"{name} must be a date or a datetime, not {type(value).__name__}")


__all__ = ["utc_range"]
