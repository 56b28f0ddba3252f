"""Sync latency: from a fill at the broker to the local position that shows it.

How it is measured, in wall time (aware UTC ``datetime`` s, differences in seconds):

* **end**: the wall time at which the sync engine replaced the local position (the
  moment a subscriber could see the new quantity).
* **start**, in order of preference:

  1. a *cause mark*: ``LatencyTracker.mark_fill(connection_id, symbol)`` records the
     wall time at which a fill was caused (tests and benchmarks call it just before the
     admin price change or the order placement that fills). Emulators run a virtual
     clock (their fills and ``Date`` headers carry the engine's time, not the wall's),
     so against an emulator only marks give a meaningful figure.
  2. the fill's own timestamp from the broker event, when ``trust_broker_clock`` is on
     (real brokers, whose clocks are close to ours; skew adds to the figure).

A stream event consumes the oldest mark of its symbol (one event, one fill). A poll or
reconcile read consumes every mark of the symbol caused before the read was sent: a
read that started earlier cannot have seen a later fill, so those marks stay for the
next read.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from brokerlink.core.values import utc_now


class SyncSource(StrEnum):
    """How a change reached the local state."""

    STREAM = "stream"
    POLL = "poll"
    RECONCILE = "reconcile"


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples`` by linear interpolation between
    closest ranks (numpy's default method).

    Raises ``ValueError`` for no samples or ``q`` outside 0-100.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Summary of latency samples, in seconds (``None`` figures when there are none)."""

    count: int
    p50: float | None
    p99: float | None
    mean: float | None
    max: float | None

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencyStats:
        """The summary of ``samples`` (seconds); never raises."""
        if not samples:
            return cls(0, None, None, None, None)
        return cls(len(samples), percentile(samples, 50), percentile(samples, 99),
                   sum(samples) / len(samples), max(samples))

    def describe(self) -> str:
        """``"n=20 p50=12ms p99=40ms max=41ms"``, or ``"n=0"``."""
        if self.count == 0 or self.p50 is None or self.p99 is None or self.max is None:
            return "n=0"
        return (f"n={self.count} p50={self.p50 * 1000:.0f}ms p99={self.p99 * 1000:.0f}ms "
                f"max={self.max * 1000:.0f}ms")


@dataclass(frozen=True, slots=True)
class LatencySample:
    """One measured fill-to-local-position delay."""

    connection_id: str
    symbol: str
    source: SyncSource
    seconds: float
    observed_at: datetime
    from_mark: bool


class LatencyTracker:
    """Collects latency samples (see the module docstring for the method)."""

    def __init__(self, *, trust_broker_clock: bool | frozenset[str] = False,
                 keep: int = 10_000) -> None:
        """``trust_broker_clock``: use broker fill timestamps when no mark is pending,
        for every connection (``True``) or for the connection ids given (the others may
        run on an emulator's virtual clock). ``keep``: samples kept."""
        self.trust_broker_clock = trust_broker_clock
        self._marks: defaultdict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._samples: deque[LatencySample] = deque(maxlen=keep)

    def mark_fill(self, connection_id: str, symbol: str,
                  caused_at: datetime | None = None) -> datetime:
        """Record that a fill of ``symbol`` at ``connection_id`` was caused at
        ``caused_at`` (default: now, wall time). Returns the time recorded. Raises
        ``ValueError`` for a naive ``caused_at``."""
        at = caused_at or utc_now()
        if at.tzinfo is None:
            raise ValueError("caused_at must be timezone-aware")
        self._marks[(connection_id, symbol.upper())].append(at)
        return at

    def pending(self, connection_id: str | None = None) -> int:
        """Marks not yet matched by a local position change."""
        return sum(len(q) for (conn, _), q in self._marks.items()
                   if connection_id is None or conn == connection_id)

    def observe(self, connection_id: str, symbol: str, *, source: SyncSource,
                broker_time: datetime | None = None, read_started: datetime | None = None,
                now: datetime | None = None) -> list[float]:
        """The local position of ``symbol`` just changed: record and return the samples
        it completes (seconds; empty when nothing says when the fill happened).

        ``read_started`` (poll/reconcile) is when the read that saw the change was sent;
        without it (a stream event) one mark is consumed.
        """
        end = now or utc_now()
        marks = self._marks.get((connection_id, symbol.upper()))
        starts: list[tuple[datetime, bool]] = []
        if marks:
            if read_started is None:
                starts.append((marks.popleft(), True))
            else:
                while marks and marks[0] <= read_started:
                    starts.append((marks.popleft(), True))
        trusted = (self.trust_broker_clock if isinstance(self.trust_broker_clock, bool)
                   else connection_id in self.trust_broker_clock)
        if not starts and trusted and broker_time is not None:
            starts.append((broker_time, False))
        seconds: list[float] = []
        for start, from_mark in starts:
            value = max(0.0, (end - start).total_seconds())
            seconds.append(value)
            self._samples.append(LatencySample(connection_id, symbol.upper(), source, value,
                                               end, from_mark))
        return seconds

    def samples(self, *, connection_id: str | None = None,
                source: SyncSource | None = None) -> list[LatencySample]:
        """The samples kept, oldest first, optionally for one connection or source."""
        return [s for s in self._samples
                if (connection_id is None or s.connection_id == connection_id)
                and (source is None or s.source is source)]

    def stats(self, *, connection_id: str | None = None,
              source: SyncSource | None = None) -> LatencyStats:
        """p50/p99 of the samples kept, optionally for one connection or source."""
        return LatencyStats.of([s.seconds for s in self.samples(connection_id=connection_id,
                                                                 source=source)])

    def clear(self) -> None:
        """Forget every sample and pending mark."""
        self._marks.clear()
        self._samples.clear()


__all__ = ["LatencySample", "LatencyStats", "LatencyTracker", "SyncSource", "percentile"]
