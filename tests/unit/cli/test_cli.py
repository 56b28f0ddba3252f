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


def test_brokers_lists_every_registered_broker() -> None:
    # The command lists the registry's specs: name, aliases, sign-in, default place.
    result = runner.invoke(app, ["brokers"])
    assert result.exit_code == 0
    assert re.search(r"paper\s+│\s+sim, simulated\s+│\s+none\s+│\s+paper", result.output)
    assert re.search(r"alpaca\s+│.*│\s+api_key, oauth\s+│\s+paper", result.output)
    assert re.search(r"tradier\s+│.*│.*oauth\s+│\s+sandbox", result.output)
