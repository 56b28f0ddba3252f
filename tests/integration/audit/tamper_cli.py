"""Running ``brokerlink audit ...`` through Typer's CliRunner and reading its output."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from brokerlink.cli.audit import app
from tests.dbfixtures import DbTarget

runner = CliRunner()


def invoke(target: DbTarget, *args: str) -> Result:
    """``brokerlink audit <args>`` on ``target``; never a traceback, whatever happens."""
    result = runner.invoke(app, list(args), env={**target.env, "COLUMNS": "250"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    return result


def one_line(output: str, phrase: str) -> str:
    """The single output line holding ``phrase`` (a reason is never wrapped)."""
    lines = [line for line in output.splitlines() if phrase in line]
    assert len(lines) == 1, output
    return lines[0]
