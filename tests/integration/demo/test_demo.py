"""``brokerlink demo`` end to end: emulators, OAuth sign-ins, best execution, live sync,
one portfolio and a verified audit log, in a home of its own."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brokerlink.cli.app import app
from brokerlink.paths import HOME_ENV

runner = CliRunner()


def test_demo_connects_trades_syncs_and_verifies(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "my-home"
    mine.mkdir()
    monkeypatch.setenv(HOME_ENV, str(mine))
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output

    # Both emulated brokers signed in through OAuth, beside a paper account.
    assert len(re.findall(r"signed in with OAuth \(PKCE, single-use state\)", out)) == 2
    assert "paper: a simulated account" in out
    # Every connection synced from its stream.
    for broker in ("alpaca", "tradier", "paper"):
        assert re.search(rf"^{broker} \(demo\): stream;", out, flags=re.MULTILINE), broker
    # Orders routed automatically, with reasons, to each of the three accounts.
    routed = re.findall(r"^placed .* -> (\w+) \(demo\): (\w+); chosen: best net price",
                        out, flags=re.MULTILINE)
    assert len(routed) == 7
    assert {broker for broker, _ in routed} == {"alpaca", "tradier", "paper"}
    assert [status for _, status in routed].count("new") == 1  # the resting limit order
    assert "Best execution: buy 10 AAPL" in out
    # An idempotent retry sent nothing.
    assert re.search(r"\(the first one\); orders at the broker: (\d+) before, \1 after", out)
    # The resting order filled when the market moved, and the sync showed it live.
    assert re.search(r"position \(stream\) XOM 20 @", out)
    # One portfolio: AAPL held at two brokers is one line.
    assert "Consolidated positions" in out
    assert re.search(r"│ AAPL .*│ alpaca \(demo\): 6", out)
    assert re.search(r"│ tradier \(demo\): 2", out)
    assert out.count("Total value:") == 2
    assert "Order journal: 8 intents, 8 filled, 0 in flight" in out
    assert re.search(r"chain intact: \d+ events", out)
    assert "Traceback" not in out

    # The user's own home was never touched, and the environment is as it was.
    assert list(mine.iterdir()) == []
    assert os.environ[HOME_ENV] == str(mine)


def test_demo_home_can_be_kept_and_verified_again(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = runner.invoke(app, ["demo", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert (home / "brokerlink.db").exists()
    again = runner.invoke(app, ["audit", "verify"], env={HOME_ENV: str(home),
                                                        "BROKERLINK_KEK_PROVIDER": "file"})
    assert again.exit_code == 0, again.output
    assert "chain intact" in again.output
