from __future__ import annotations

import re
from datetime import UTC, datetime

from typer.testing import CliRunner

from brokerlink.cli.app import app
from brokerlink.cli.demo import latest_session_start
from brokerlink.sim.calendar import ExchangeCalendar, MarketSession

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "brokers", "vault", "audit", "emulate", "connect", "connections",
                    "disconnect", "sync", "portfolio", "orders", "order"):
        assert command in result.output


def test_demo_places_orders_and_shows_the_results() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    for title in ("Accounts", "Balances", "Positions", "Orders", "Transactions"):
        assert title in result.output
    assert "refused" not in result.output
    placed = re.findall(r"^placed .* -> (\w+)$", result.output, flags=re.MULTILINE)
    assert len(placed) == 7 + 3 + 3  # paper, then Alpaca and Tradier through emulators
    assert "filled" in placed
    assert "new" in placed
    for broker in ("paper", "alpaca", "tradier"):
        assert re.search(rf"^│ {broker}\s+│ SIM\d+", result.output, flags=re.MULTILINE)
    assert "events streamed" in result.output


def test_brokers_lists_paper_as_ready() -> None:
    result = runner.invoke(app, ["brokers"])
    assert result.exit_code == 0
    assert re.search(r"paper\s+│\s+ready", result.output)


def test_demo_session_is_inside_regular_hours() -> None:
    # Thanksgiving 2026: the latest session is the Wednesday before.
    start = latest_session_start(datetime(2026, 11, 26, 18, 0, tzinfo=UTC))
    assert start == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert ExchangeCalendar().session_state(start) is MarketSession.REGULAR
