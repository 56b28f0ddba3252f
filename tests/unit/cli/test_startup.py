"""``brokerlink --help`` and ``brokerlink brokers`` start without the heavy libraries.

Checked by what a fresh process has imported when the command exits, not by timing it:
a timing test would pass or fail with the machine's load. ``bench/cli_startup.py``
measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench import cli_startup
from typer.testing import CliRunner

from brokerlink.cli.app import LAZY_COMMANDS, app

HEAVY = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "httpx", "aiohttp", "authlib",
         "cryptography", "exchange_calendars", "websockets", "brokerlink.manager",
         "brokerlink.storage", "brokerlink.bootstrap")

_PROBE = """
import json, sys
sys.argv = ['brokerlink', *json.loads(sys.argv[1])]
from brokerlink.cli.app import main
code = 0
try:
    main()
except SystemExit as exit_:
    code = exit_.code or 0
sys.stderr.write(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

runner = CliRunner()


def _run(args: list[str], home: Path) -> tuple[int, str, set[str]]:
    env = {"BROKERLINK_HOME": str(home), "PATH": "/usr/bin:/bin"}
    finished = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)],  # noqa: S603
                              env=env, capture_output=True, text=True, check=False,
                              timeout=60)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stderr.strip().splitlines()[-1])
    return int(result["code"]), finished.stdout, set(result["modules"])


@pytest.mark.parametrize(("args", "shown"), [(["--help"], "portfolio"),
                                              (["brokers"], "tradier")])
def test_fast_commands_import_no_heavy_module(args: list[str], shown: str,
                                              tmp_path: Path) -> None:
    code, output, modules = _run(args, tmp_path)
    assert code == 0
    assert shown in output  # the command really ran
    assert sorted(m for m in HEAVY if m in modules) == []


def test_the_probe_sees_a_command_that_does_import_them(tmp_path: Path) -> None:
    # Control: a command whose module needs the manager loads it, so an empty list above
    # means the fast commands avoided it, not that the probe cannot see it.
    code, output, modules = _run(["orders", "--help"], tmp_path)
    assert code == 0
    assert "--status" in output
    assert "brokerlink.manager" in modules


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_lazy_help_line_is_the_commands_own(name: str) -> None:
    command = LAZY_COMMANDS[name].load()
    assert command.name == name
    first_paragraph = (command.help or "").split("\n\n")[0]
    assert " ".join(first_paragraph.split()) == LAZY_COMMANDS[name].help


def test_lazy_groups_run_their_subcommands() -> None:
    result = runner.invoke(app, ["order", "--help"])
    assert result.exit_code == 0, result.output
    assert "place" in result.output
    assert "cancel" in result.output
    result = runner.invoke(app, ["vault", "--help"])
    assert result.exit_code == 0, result.output
    assert "rotate-key" in result.output


def test_unknown_command_is_refused() -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_startup_benchmark_reports_both_commands() -> None:
    result = cli_startup.measure(runs=1)
    assert set(result.commands) == {"brokerlink --help", "brokerlink brokers"}
    for timing in (result.baseline, *result.commands.values()):
        assert timing.wall_s > 0
        assert timing.cpu_s >= 0
    assert result.heavy == {"brokerlink --help": [], "brokerlink brokers": []}
    report = result.report()
    assert "python -c pass" in report
    assert "brokerlink brokers" in report
