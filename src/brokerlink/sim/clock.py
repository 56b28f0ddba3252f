"""A controllable virtual clock: the simulation's only notion of "now".

Nothing in ``sim/`` reads the wall clock after construction, so a run is repeatable:
tests move time with :meth:`SimClock.advance` or :meth:`SimClock.set` instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must be timezone-aware (got naive {value.isoformat()}); "
            "pass e.g. datetime(..., tzinfo=UTC)"
        )
    return value.astimezone(UTC)


class SimClock:
    """A virtual clock that only moves when told to, and never backwards.

    ``start`` must be timezone-aware; it is stored in UTC. Without it the clock starts
    at the current UTC time truncated to whole seconds (the one wall-clock read).
    Raises ``ValueError`` for a naive ``start``.
    """

    __slots__ = ("_now",)

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime.now(UTC).replace(microsecond=0)
        self._now = _require_aware(start, "SimClock start")

    def now(self) -> datetime:
        """The current virtual time, an aware UTC datetime."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time.

        A zero delta is allowed. Raises ``ValueError`` for a negative ``delta``:
        simulated time never runs backwards.
        """
        if delta < timedelta(0):
            raise ValueError(f"cannot advance the clock by a negative delta ({delta}); use >= 0")
        self._now = self._now + delta
        return self._now

    def set(self, at: datetime) -> None:
        """Jump the clock to ``at`` (converted to UTC).

        Raises ``ValueError`` when ``at`` is naive or earlier than the current time.
        """
        target = _require_aware(at, "SimClock.set time")
        if target < self._now:
            raise ValueError(
                f"cannot move the clock backwards from {self._now.isoformat()} to "
                f"{target.isoformat()}; create a new SimClock to restart a run"
            )
        self._now = target

    def __repr__(self) -> str:
        return f"SimClock({self._now.isoformat()})"
