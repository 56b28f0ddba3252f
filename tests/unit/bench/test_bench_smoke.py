"""The benchmarks run end to end on a few connections and give sane results (the figures
themselves are for ``make bench``)."""

from __future__ import annotations

from bench import idle_memory, portfolio_scale


async def test_portfolio_scale_reads_every_connection() -> None:
    result = await portfolio_scale.measure(6, server="loop", rounds=2, diagnostic_rounds=1)

    # measure() raises if any connection errors or misses a position.
    assert result.connections == 6
    assert result.setup_s > 0
    assert result.unaudited is not None
    for phase in (result.audited, result.unaudited):
        assert {kind: len(times) for kind, times in phase.per_connection.items()} == {
            "paper": 2, "alpaca": 2, "tradier": 2}
        assert all(t > 0 for times in phase.per_connection.values() for t in times)
        assert phase.warm_s
        assert all(t > 0 for t in phase.warm_s)
        assert phase.sum_s > 0
        assert phase.ratio > 0
    assert len(result.audited.warm_s) == 2
    assert result.audited.cold_s is not None
    assert result.audited.cold_s > 0
    assert result.unaudited.cold_s is None
    report = result.report()
    assert "6 connections" in report
    assert "12 holdings" in report


async def test_idle_memory_measures_every_kind() -> None:
    result = await idle_memory.measure(3, profile=False)

    assert [k.kind for k in result.kinds] == ["paper", "alpaca", "tradier", "mix"]
    for kind in result.kinds:
        assert kind.connections == idle_memory.WARMUP + 3
        # Each connection keeps at least its broker object alive.
        assert kind.traced_kib > 1
        assert kind.rss_kib is not None
    assert "target < 100 KiB" in result.report()
