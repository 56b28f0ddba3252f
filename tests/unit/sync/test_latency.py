"""Percentiles, latency summaries and how marks pair with local position changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brokerlink.manager.latency import LatencyStats, LatencyTracker, SyncSource, percentile

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_percentile_interpolates_between_closest_ranks() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="0-100"):
        percentile([1.0], 101)


def test_stats_summarise_and_describe() -> None:
    stats = LatencyStats.of([0.010, 0.020, 0.030, 0.040])
    assert stats.count == 4
    assert stats.p50 == pytest.approx(0.025)
    assert stats.max == pytest.approx(0.040)
    assert stats.describe().startswith("n=4 p50=25ms")
    empty = LatencyStats.of([])
    assert (empty.count, empty.p50, empty.p99) == (0, None, None)
    assert empty.describe() == "n=0"


def test_a_stream_event_consumes_one_mark() -> None:
    tracker = LatencyTracker()
    tracker.mark_fill("c", "aapl", T0)
    tracker.mark_fill("c", "AAPL", T0 + timedelta(seconds=1))
    first = tracker.observe("c", "AAPL", source=SyncSource.STREAM,
                            now=T0 + timedelta(seconds=1.5))
    assert first == [pytest.approx(1.5)]
    assert tracker.pending("c") == 1


def test_a_read_consumes_only_marks_caused_before_it_was_sent() -> None:
    tracker = LatencyTracker()
    tracker.mark_fill("c", "KO", T0)
    tracker.mark_fill("c", "KO", T0 + timedelta(seconds=2))
    seen = tracker.observe("c", "KO", source=SyncSource.POLL,
                           read_started=T0 + timedelta(seconds=1),
                           now=T0 + timedelta(seconds=1.25))
    assert seen == [pytest.approx(1.25)]
    assert tracker.pending() == 1
    assert tracker.stats(source=SyncSource.POLL).count == 1
    assert tracker.stats(source=SyncSource.STREAM).count == 0


def test_broker_timestamps_count_only_when_trusted() -> None:
    untrusting = LatencyTracker()
    assert untrusting.observe("c", "KO", source=SyncSource.STREAM, broker_time=T0,
                              now=T0 + timedelta(seconds=1)) == []
    trusting = LatencyTracker(trust_broker_clock=True)
    assert trusting.observe("c", "KO", source=SyncSource.STREAM, broker_time=T0,
                            now=T0 + timedelta(seconds=1)) == [pytest.approx(1.0)]
    assert not trusting.samples()[0].from_mark


def test_marks_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        LatencyTracker().mark_fill("c", "KO", datetime(2026, 1, 1))  # noqa: DTZ001
