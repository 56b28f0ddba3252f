"""The connection commands end to end: emulators on loopback, a real database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brokerlink.cli.app import app
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from tests.dbfixtures import DbTarget

runner = CliRunner()


@pytest.fixture
def emulators() -> Iterator[tuple[str, str]]:
    # The CLI runs its own event loop, so the emulators get theirs, in threads.
    with EmulatorServer.run_in_thread(alpaca_app()) as alpaca, \
            EmulatorServer.run_in_thread(tradier_app()) as tradier:
        yield alpaca.url, tradier.url


def _ids(output: str) -> list[str]:
    return re.findall(r"conn-[0-9a-f]{12}", output)


def test_connect_list_disconnect_and_verify(db_target: DbTarget, emulators: tuple[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    alpaca, tradier = emulators
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALPACA_API_KEY_ID", "PKCLITEST0001")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "cli-test-secret")

    keys = runner.invoke(app, ["connect", "alpaca", "--base-url", alpaca])
    assert keys.exit_code == 0, keys.output
    assert "cli-test-secret" not in keys.output
    oauth_alpaca = runner.invoke(app, ["connect", "alpaca", "--base-url", alpaca,
                                       "--auth", "oauth"])
    assert oauth_alpaca.exit_code == 0, oauth_alpaca.output
    oauth_tradier = runner.invoke(app, ["connect", "tradier", "--base-url", tradier])
    assert oauth_tradier.exit_code == 0, oauth_tradier.output

    listed = runner.invoke(app, ["connections"])
    assert listed.exit_code == 0, listed.output
    ids = _ids(listed.output)
    assert len(ids) == 3
    assert listed.output.count("connected") >= 3

    removed = runner.invoke(app, ["disconnect", ids[0]])
    assert removed.exit_code == 0, removed.output
    assert len(_ids(runner.invoke(app, ["connections"]).output)) == 2
    missing = runner.invoke(app, ["disconnect", ids[0]])
    assert missing.exit_code == 1

    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output


def test_unknown_broker_is_refused(brokerlink_home: Path) -> None:
    result = runner.invoke(app, ["connect", "fidelity"])
    assert result.exit_code != 0
    assert "not available yet" in result.output
