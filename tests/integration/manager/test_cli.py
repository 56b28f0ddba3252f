"""The portfolio and order commands end to end: emulators in threads, a real database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import typer
from typer.testing import CliRunner

from brokerlink.cli import orders, portfolio
from brokerlink.cli.app import app as main_app
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from tests.dbfixtures import DbTarget

runner = CliRunner()


def _app() -> typer.Typer:
    # Mounted as the main app will mount them.
    cli = typer.Typer()
    cli.command("portfolio")(portfolio.portfolio)
    cli.command("orders")(orders.orders)
    cli.add_typer(orders.order_app(), name="order")
    return cli


@pytest.fixture
def emulators() -> Iterator[tuple[str, str]]:
    # The CLI runs its own event loop, so the emulators get theirs, in threads.
    with EmulatorServer.run_in_thread(alpaca_app()) as alpaca, \
            EmulatorServer.run_in_thread(tradier_app()) as tradier:
        yield alpaca.url, tradier.url


def _connect(url: str, broker: str) -> str:
    result = runner.invoke(main_app, ["connect", broker, "--base-url", url])
    assert result.exit_code == 0, result.output
    found = re.search(r"conn-[0-9a-f]{12}", result.output)
    assert found is not None
    return found.group(0)


def _order_id(output: str) -> str:
    found = re.search(r"order (\S+) (new|filled|accepted|pending_new|partially_filled)",
                      output)
    assert found is not None, output
    return found.group(1)


def test_place_list_cancel_and_portfolio(db_target: DbTarget, emulators: tuple[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    alpaca, tradier = emulators
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALPACA_API_KEY_ID", "PKCLIMGR001")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "cli-manager-secret")
    monkeypatch.setenv("TRADIER_ACCESS_TOKEN", "cli-manager-token")
    alpaca_id = _connect(alpaca, "alpaca")
    tradier_id = _connect(tradier, "tradier")
    httpx.post(f"{alpaca}/_emulator/prices", json={"symbol": "AAPL", "price": "150"})
    httpx.post(f"{tradier}/_emulator/prices", json={"symbol": "AAPL", "price": "149"})
    cli = _app()

    auto = runner.invoke(cli, ["order", "place", "AAPL", "buy", "2"])
    assert auto.exit_code == 0, auto.output
    assert "Best execution" in auto.output
    assert f"placed at {tradier_id}" in auto.output
    assert "chosen" in auto.output

    args = ["order", "place", "KO", "buy", "1", "--type", "limit", "--limit", "1.00",
            "--broker", alpaca_id, "--idempotency-key", "cli-key-1"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "Best execution" not in first.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert _order_id(again.output) == _order_id(first.output)

    listed = runner.invoke(cli, ["orders", "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert data["complete"] is True
    assert {o["connection_id"] for o in data["orders"]} == {alpaca_id, tradier_id}
    assert all(isinstance(o["quantity"], str) for o in data["orders"])
    assert len([o for o in data["orders"] if o["symbol"] == "KO"]) == 1
    table = runner.invoke(cli, ["orders"])
    assert table.exit_code == 0, table.output
    assert _order_id(first.output) in table.output

    canceled = runner.invoke(cli, ["order", "cancel", alpaca_id, _order_id(first.output)])
    assert canceled.exit_code == 0, canceled.output

    shown = runner.invoke(cli, ["portfolio"])
    assert shown.exit_code == 0, shown.output
    for text in ("Consolidated positions", "AAPL", "Total value", tradier_id):
        assert text in shown.output

    # Alpaca goes down: the portfolio still shows Tradier and names what is missing.
    httpx.post(f"{alpaca}/_emulator/faults", json={"kind": "error", "path": "/v2/*",
                                                   "status": 503})
    partial = runner.invoke(cli, ["portfolio", "--json", "--timeout", "3"])
    assert partial.exit_code == 0, partial.output
    snapshot = json.loads(partial.stdout)
    assert snapshot["complete"] is False
    assert set(snapshot["errors"]) == {alpaca_id}
    assert snapshot["errors"][alpaca_id]["type"] == "BrokerUnavailableError"
    aapl = next(p for p in snapshot["positions"] if p["symbol"] == "AAPL")
    assert Decimal(aapl["quantity"]) == 2
    assert [h["connection_id"] for h in aapl["holdings"]] == [tradier_id]
    assert isinstance(snapshot["total_value"], str)
    assert "cli-manager-secret" not in partial.output + shown.output + auto.output


def test_no_eligible_broker_explains_why(db_target: DbTarget, emulators: tuple[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, tradier = emulators
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRADIER_ACCESS_TOKEN", "cli-manager-token-2")
    _connect(tradier, "tradier")
    refused = runner.invoke(_app(), ["order", "place", "AAPL", "buy", "0.5"])
    assert refused.exit_code == 1
    assert "excluded" in refused.output
    assert "fractional" in refused.output


def test_a_paper_order_outlives_the_command_that_placed_it(
        db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    refused = runner.invoke(main_app, ["connect", "paper", "--cash", "-5"])
    assert refused.exit_code != 0
    assert "--cash must be zero or more" in refused.output
    added = runner.invoke(main_app, ["connect", "paper", "--cash", "50000",
                                     "--market", "always_open", "--label", "practice"])
    assert added.exit_code == 0, added.output
    match = re.search(r"connected (conn-\w+): practice", added.output)
    assert match, added.output
    paper = match.group(1)
    cli = _app()
    placed = runner.invoke(cli, ["order", "place", "AAPL", "buy", "10", "--broker", paper])
    assert placed.exit_code == 0, placed.output
    order_id = _order_id(placed.output)

    # Each invocation is a new process's worth of state: only the database carries over.
    shown = runner.invoke(cli, ["portfolio", "--json"])
    assert shown.exit_code == 0, shown.output
    snapshot = json.loads(shown.stdout)
    assert snapshot["complete"] is True
    [aapl] = snapshot["positions"]
    assert (aapl["symbol"], Decimal(aapl["quantity"])) == ("AAPL", Decimal(10))
    assert [h["connection_id"] for h in aapl["holdings"]] == [paper]
    listed = runner.invoke(cli, ["orders", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [o["order_id"] for o in json.loads(listed.stdout)["orders"]] == [order_id]
