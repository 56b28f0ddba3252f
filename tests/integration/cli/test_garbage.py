"""Issue 19 items 7 (CLI part) and 9: numbers and names typed at the CLI go through the
core policies and are refused in one line naming the field and the rule; nothing is
stored or sent. "CLI garbage: 0 tracebacks and 0 silent acceptances."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brokerlink.cli.app import app
from tests.dbfixtures import DbTarget

runner = CliRunner()

QUANTITIES = {"1e-400": "too small", "١٢": "ASCII digits", "1e400": "too large",
              "99999999999999999999": "too large", "1E+9999999999": "too large",
              "0.0000000001": "decimal places", "1e-7": "decimal places", "nan": "ASCII",
              "inf": "ASCII", "-5": "greater than zero", "0": "greater than zero",
              "1_000": "ASCII", "": "ASCII"}
LIMITS = {"0.0000001": "tick", "1.001": "tick", "1e400": "too large", "١٢": "ASCII",
          "-1": "limit", "1e-400": "too small"}
CASH = {"1e400": "too large", "١٢": "ASCII", "-1": "zero or more", "nan": "ASCII",
        "1E+9999999999": "too large", "0.0000001": "whole cents", "99999999999999999999":
        "too large"}


def _one_line(output: str, *needles: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    assert "╭" not in output, output
    for needle in needles:
        assert needle in lines[0], output
    return lines[0]


@pytest.fixture
def paper(db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    made = runner.invoke(app, ["connect", "paper", "--market", "always_open"])
    assert made.exit_code == 0, made.output
    found: list[str] = re.findall(r"conn-[0-9a-f]{12}", made.output)
    return found[0]


def _orders() -> list[object]:
    listed = runner.invoke(app, ["orders", "--json"])
    assert listed.exit_code == 0, listed.output
    orders: list[object] = json.loads(listed.stdout)["orders"]
    return orders


def test_order_garbage_is_refused_in_one_line_and_nothing_is_sent(paper: str) -> None:
    for text, rule in QUANTITIES.items():
        result = runner.invoke(app, ["order", "place", "AAPL", "buy", "--", text])
        assert result.exit_code != 0, (text, result.output)
        assert isinstance(result.exception, SystemExit), (text, result.exception)
        _one_line(result.stderr, "quantity", rule)
    for text, rule in LIMITS.items():
        result = runner.invoke(app, ["order", "place", "AAPL", "buy", "1", "--type",
                                     "limit", "--limit", text])
        assert result.exit_code != 0, (text, result.output)
        _one_line(result.stderr, "limit", rule)
    huge_symbol = runner.invoke(app, ["order", "place", "A" * 100_000, "buy", "1"])
    assert huge_symbol.exit_code != 0
    assert len(_one_line(huge_symbol.stderr)) < 1_000
    assert _orders() == []
    # The control: a sane order is placed, so the refusals above were the numbers'.
    placed = runner.invoke(app, ["order", "place", "AAPL", "buy", "1", "--broker", paper])
    assert placed.exit_code == 0, placed.output
    assert len(_orders()) == 1


@pytest.mark.usefixtures("brokerlink_home")
def test_cash_and_settings_garbage_is_refused() -> None:
    for text, rule in CASH.items():
        result = runner.invoke(app, ["connect", "paper", "--cash", text])
        assert result.exit_code != 0, (text, result.output)
        _one_line(result.stderr, "--cash", rule)
    for pair, rule in {"cash=١٢": "ASCII digits", "cash=1e400": "too large",
                       f"account_id={'A' * 1000}": "at most 100",
                       "market=\x1b[31m": "printable"}.items():
        result = runner.invoke(app, ["connect", "paper", "--set", pair])
        assert result.exit_code != 0, (pair, result.output)
        _one_line(result.stderr, "--set", rule)
    assert "conn-" not in runner.invoke(app, ["connections"]).stdout


def test_labels_are_bounded_before_anything_is_stored(db_target: DbTarget,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    for label, rule in {"x" * 100_000: "at most 100", "x" * 101: "at most 100",
                        "   ": "must not be empty", "tab\there": "printable",
                        "line\nbreak": "printable", "\udc80": "printable"}.items():
        result = runner.invoke(app, ["connect", "paper", "--label", label])
        assert result.exit_code == 1, result.output
        _one_line(result.stderr, "label", rule)
    assert "conn-" not in runner.invoke(app, ["connections"]).stdout
    kept = runner.invoke(app, ["connect", "paper", "--label", "x" * 100])
    assert kept.exit_code == 0, kept.output
    assert "x" * 100 in kept.stdout.replace("\n", "")


async def test_library_refuses_labels_and_actors(brokerlink_home: Path) -> None:
    from brokerlink.bootstrap import open_connection_service
    from brokerlink.manager.manager import BrokerManager
    from brokerlink.storage.records import InvalidNameError

    with pytest.raises(InvalidNameError, match="actor"):
        await open_connection_service(actor="a" * 201)
    service = await open_connection_service(actor="test:labels")
    try:
        with pytest.raises(InvalidNameError, match="label"):
            await service.add_with_settings("paper", label="x" * 100_000)
        manager = BrokerManager(service)
        with pytest.raises(InvalidNameError, match="label"):
            await manager.add_broker("paper", label="\x00")
        assert await service.list() == []
    finally:
        await service.aclose()
