"""Issue 19 item 10: environment mistakes end every command that touches them in one
line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brokerlink.cli.app import app

runner = CliRunner()

COMMANDS = (["connections"], ["portfolio"], ["orders"], ["sync"], ["vault", "status"],
            ["audit", "verify"], ["connect", "paper"], ["disconnect", "conn-000000000000"],
            ["order", "place", "AAPL", "buy", "1"])


def _mistakes(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    return {
        "unknown key provider": ({"BROKERLINK_KEK_PROVIDER": "bogus"}, "bogus"),
        "malformed database URL": ({"BROKERLINK_DATABASE_URL": "::::"}, "not a valid"),
        "unsupported database": ({"BROKERLINK_DATABASE_URL": "mysql://u@h/db"}, "mysql"),
        "bad port": ({"BROKERLINK_DATABASE_URL": "postgresql://127.0.0.1:99999/x"},
                     "99999"),
        "unreachable PostgreSQL": ({"BROKERLINK_DATABASE_URL":
                                    "postgresql://postgres@127.0.0.1:1/test"},
                                   "could not open"),
        "home is a file": ({"BROKERLINK_HOME": str(a_file)}, "is a file"),
        "database path cannot exist": (
            {"BROKERLINK_DATABASE_URL": f"sqlite+aiosqlite:///{a_file}/sub/x.db"},
            "is a file"),
    }


def _assert_one_line(output: str, expected: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert "╭" not in output  # no rich panel either
    assert expected in lines[0], output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_mistake_is_one_line_for_every_command(
        command: list[str], brokerlink_home: Path, tmp_path: Path) -> None:
    for name, (env, expected) in _mistakes(tmp_path).items():
        result = runner.invoke(app, command, env=env)
        assert result.exit_code != 0, (name, result.output)
        assert isinstance(result.exception, SystemExit), (name, result.exception)
        _assert_one_line(result.stderr, expected)
        assert result.stdout == "", (name, result.stdout)


def test_a_real_process_prints_one_line_and_exits_1(brokerlink_home: Path,
                                                    tmp_path: Path) -> None:
    # The console script path, not the test runner: sys.excepthook and all.
    for env, expected in _mistakes(tmp_path).values():
        done = subprocess.run(
            [sys.executable, "-c", "from brokerlink.cli.app import main; main()",
             "connections"], capture_output=True, text=True, timeout=60,
            env={**_base_env(), **env})
        assert done.returncode == 1, done.stderr
        _assert_one_line(done.stderr, expected)


def test_minus_vv_adds_the_traceback_of_an_unexpected_error(
        brokerlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import brokerlink.cli.connections as connections

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("password=hunter2 leaked into a bug")

    monkeypatch.setattr(connections, "_list", broken)
    quiet = runner.invoke(app, ["connections"])
    assert quiet.exit_code == 1
    _assert_one_line(quiet.stderr, "unexpected ZeroDivisionError")
    assert "-vv" in quiet.stderr
    assert "hunter2" not in quiet.stderr
    loud = runner.invoke(app, ["-vv", "connections"])
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr
    assert "hunter2" not in loud.stderr
    assert loud.stderr.rstrip().splitlines()[-1].startswith("error: unexpected")


def _base_env() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items()
            if name in ("PATH", "HOME", "LANG", "BROKERLINK_HOME", "BROKERLINK_KEK_PROVIDER")}
