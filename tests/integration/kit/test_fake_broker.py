"""A broker added with no edit outside its own two packages works everywhere.

The fake broker (``packages/brokerlink_fake``, ``packages/brokerlink_fake_emulator``)
is installed into a temporary site directory. Registered with the adapter registry, it
is connected, read and traded through the ``BrokerManager`` (the order through the
write-ahead journal) and through the CLI (``brokers``, ``connect`` with the keys from
the environment variables its spec names, ``portfolio --json``); a fresh interpreter
finds it through the ``brokerlink.brokers`` entry point alone.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from brokerlink.adapters import registry
from brokerlink.adapters._shared.spec import BrokerSpec
from brokerlink.cli.app import app
from brokerlink.core.enums import BrokerType, OrderSide, OrderStatus
from brokerlink.core.models import BrokerCredentials, OrderRequest
from brokerlink.emulators import EmulatorServer
from brokerlink.manager.commissions import CommissionSchedule
from brokerlink.manager.connections import ConnectionService
from brokerlink.manager.journal import OrderJournal
from brokerlink.manager.manager import BrokerManager
from tests.dbfixtures import DbTarget

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake_spec(fake_site: Path) -> Iterator[BrokerSpec]:
    spec = importlib.import_module("brokerlink_fake").SPEC
    assert isinstance(spec, BrokerSpec)
    with registry.registered(spec):
        yield spec


def _create_app() -> Any:
    return importlib.import_module("brokerlink_fake_emulator").create_app()


@pytest.fixture
async def fake_emulator(fake_site: Path) -> AsyncIterator[str]:
    async with EmulatorServer(_create_app()) as server:
        yield server.url


@pytest.fixture
def fake_emulator_thread(fake_site: Path) -> Iterator[str]:
    # The CLI runs its own event loop, so the emulator gets one of its own, in a thread.
    with EmulatorServer.run_in_thread(_create_app()) as server:
        yield server.url


async def test_the_manager_connects_reads_and_trades_a_fake_broker(
        fake_spec: BrokerSpec, fake_emulator: str, service: ConnectionService) -> None:
    assert registry.resolve("FakeBroker") is fake_spec  # its alias, any case
    assert CommissionSchedule().rule_for(fake_spec.broker_type).per_order == Decimal("1.25")
    manager = BrokerManager(service)
    async with manager:
        keys = BrokerCredentials(broker=BrokerType("fake"), api_key=SecretStr("FKMANAGER1"),
                                 api_secret=SecretStr("fake-secret"), base_url=fake_emulator)
        connection_id = await manager.add_broker("fakebroker", keys)
        [view] = await manager.get_connections()
        assert (view.broker, view.account_ids) == ("fake", ("FAKE-NAGER1",))

        placed = await manager.place_order(
            OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(3)),
            connection_id=connection_id, idempotency_key="kit-1")
        assert placed.result is not None
        assert placed.result.status is OrderStatus.FILLED
        journal = manager.journal
        assert isinstance(journal, OrderJournal)
        [intent] = await journal.intents()
        assert (intent.connection_id, intent.status) == (connection_id, OrderStatus.FILLED)

        positions = await manager.get_all_positions()
        assert positions.errors == {}
        [held] = [item.value for item in positions.items]
        assert (held.symbol, held.quantity) == ("AAPL", Decimal(3))
        value = await manager.get_total_portfolio_value()
        assert value.total == Decimal(10_000)  # 450 of cash became 3 AAPL at 150

        # Best execution ranks it like any broker, and says why.
        plan = await manager.find_best_execution(
            OrderRequest(symbol="KO", side=OrderSide.BUY, quantity=Decimal(1)))
        assert plan.require().connection_id == connection_id


def test_the_cli_lists_connects_and_shows_a_fake_broker(
        fake_spec: BrokerSpec, fake_emulator_thread: str, db_target: DbTarget,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)
    listed = runner.invoke(app, ["brokers"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"│ fake\s+│ fakebroker\s+│ api_key", listed.output), listed.output

    [keys] = fake_spec.credentials
    assert (keys.key_env, keys.secret_env) == ("FAKE_KEY_ID", "FAKE_SECRET")
    monkeypatch.setenv("FAKE_KEY_ID", "FKCLI00001")
    monkeypatch.setenv("FAKE_SECRET", "cli-secret")
    connected = runner.invoke(app, ["connect", "fake", "--base-url", fake_emulator_thread,
                                    "--label", "my fake"])
    assert connected.exit_code == 0, connected.output
    found = re.search(r"connected (conn-[0-9a-f]{12}): my fake \(accounts FAKE-I00001\)",
                      connected.output)
    assert found, connected.output

    placed = runner.invoke(app, ["order", "place", "MSFT", "buy", "2", "--broker",
                                 found.group(1)])
    assert placed.exit_code == 0, placed.output
    shown = runner.invoke(app, ["portfolio", "--json"])
    assert shown.exit_code == 0, shown.output
    snapshot = json.loads(shown.stdout)
    assert snapshot["complete"] is True
    [msft] = snapshot["positions"]
    assert (msft["symbol"], Decimal(msft["quantity"])) == ("MSFT", Decimal(2))
    assert [h["connection_id"] for h in msft["holdings"]] == [found.group(1)]

    # Settings are for brokers that sign in without credentials.
    refused = runner.invoke(app, ["connect", "fake", "--cash", "5"])
    assert refused.exit_code != 0
    assert "simulated accounts" in refused.output


def test_a_fresh_interpreter_finds_the_fake_broker_by_its_entry_point(
        fake_site: Path, brokerlink_home: Path) -> None:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(fake_site), str(REPO / "src")])}
    listed = subprocess.run(
        [sys.executable, "-c", "from brokerlink.cli.app import main; main()", "brokers"],
        capture_output=True, text=True, env=env, timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"│ fake\s+│ fakebroker\s+│ api_key", listed.stdout), listed.stdout
    # Without the site directory there is no fake broker: it came from the entry point.
    bare = subprocess.run(
        [sys.executable, "-c", "from brokerlink.cli.app import main; main()", "brokers"],
        capture_output=True, text=True, env={**os.environ}, timeout=60, check=False)
    assert bare.returncode == 0, bare.stderr
    assert "fake" not in bare.stdout
