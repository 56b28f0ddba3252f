from __future__ import annotations

import re

from typer.testing import CliRunner

from brokerlink.cli.app import app

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "brokers", "vault", "audit", "emulate", "connect", "connections",
                    "disconnect", "sync", "portfolio", "orders", "order"):
        assert command in result.output


def test_brokers_lists_paper_as_ready() -> None:
    result = runner.invoke(app, ["brokers"])
    assert result.exit_code == 0
    assert re.search(r"paper\s+│\s+ready", result.output)
