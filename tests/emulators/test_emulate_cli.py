"""``brokerlink emulate`` in a real subprocess: it prints its URL, serves, and stops."""

from __future__ import annotations

import asyncio
import re
import sys

import httpx
import typer
from typer.testing import CliRunner

from brokerlink.cli import emulate

KEYS = {"APCA-API-KEY-ID": "PKCLITEST01", "APCA-API-SECRET-KEY": "cli-test-secret"}
START = "import sys; from brokerlink.cli.emulate import app; app()"


async def test_emulate_alpaca_serves_until_terminated() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", START, "alpaca", "--port", "0", "--seed", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        found = re.search(r"alpaca: (http://127\.0\.0\.1:\d+)", line)
        assert found, line
        url = found.group(1)
        async with httpx.AsyncClient(base_url=url) as client:
            clock = await client.get("/v2/clock", headers=KEYS)
            status = await client.get("/_emulator/status")
        assert clock.status_code == 200
        assert set(clock.json()) == {"timestamp", "is_open", "next_open", "next_close"}
        assert status.json()["broker"] == "alpaca"
        assert status.json()["follow_wall_clock"] is True
    finally:
        if process.returncode is None:
            process.terminate()
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


def test_unknown_emulator_is_refused_with_the_choices() -> None:
    parent = typer.Typer()
    parent.add_typer(emulate.app, name="emulate")
    result = CliRunner().invoke(parent, ["emulate", "nosuchbroker"])
    assert result.exit_code != 0
    assert "alpaca" in result.output
