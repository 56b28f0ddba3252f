"""``brokerlink sync`` end to end: stored connections to emulators on loopback, a real
(SQLite) database; once, and live with ``--watch``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from brokerlink.cli import sync as sync_command
from brokerlink.cli.app import app
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from tests.dbfixtures import brokerlink_home

__all__ = ["brokerlink_home"]

runner = CliRunner()
sync_app = typer.Typer()
sync_app.command()(sync_command.sync)


@pytest.fixture
def connected(brokerlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The CLI runs its own event loop, so the emulators get theirs, in threads.
    with EmulatorServer.run_in_thread(alpaca_app()) as alpaca, \
            EmulatorServer.run_in_thread(tradier_app()) as tradier:
        monkeypatch.setenv("ALPACA_API_KEY_ID", "PKSYNCTEST001")
        monkeypatch.setenv("ALPACA_API_SECRET_KEY", "sync-test-secret")
        for args in (["connect", "alpaca", "--base-url", alpaca.url],
                     ["connect", "tradier", "--base-url", tradier.url]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
        yield


def test_sync_once_prints_a_summary(connected: None) -> None:
    result = runner.invoke(sync_app, [])
    assert result.exit_code == 0, result.output
    assert "Sync" in result.output
    assert "alpaca" in result.output
    assert "tradier" in result.output
    assert "Balances" in result.output
    assert "sync-test-secret" not in result.output


def test_sync_watch_streams_until_stopped(connected: None) -> None:
    result = runner.invoke(sync_app, ["--watch", "--duration", "1.5"])
    assert result.exit_code == 0, result.output
    assert "watching; Ctrl-C to stop" in result.output
    assert result.output.count("stream_up (stream)") == 2
    assert "balance (poll)" in result.output
    assert result.output.count(" stream ") >= 2  # both connections end in stream mode


def test_sync_without_connections_says_so(brokerlink_home: Path) -> None:
    result = runner.invoke(sync_app, [])
    assert result.exit_code == 0, result.output
    assert "no connections to sync" in result.output
