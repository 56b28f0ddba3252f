"""Fixtures: databases (SQLite and PostgreSQL), emulators on loopback, a manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import connection_service, open_audit_log
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from brokerlink.manager.connections import ConnectionService
from brokerlink.manager.manager import BrokerManager
from brokerlink.storage.engine import Database
from tests.dbfixtures import brokerlink_home, database, db_target, vault
from tests.integration.manager.helpers import Emulator

__all__ = ["brokerlink_home", "database", "db_target", "vault"]


@pytest.fixture
async def alpaca() -> AsyncIterator[Emulator]:
    app = alpaca_app()
    async with EmulatorServer(app) as server:
        yield Emulator(server, app)


@pytest.fixture
async def alpaca_two() -> AsyncIterator[Emulator]:
    app = alpaca_app()
    async with EmulatorServer(app) as server:
        yield Emulator(server, app)


@pytest.fixture
async def tradier() -> AsyncIterator[Emulator]:
    app = tradier_app()
    async with EmulatorServer(app) as server:
        yield Emulator(server, app)


@pytest.fixture
async def service(database: Database, vault: Vault) -> AsyncIterator[ConnectionService]:
    audit = await open_audit_log(database, vault)
    # The database fixture closes the database; the service only owns the audit log.
    yield connection_service(database, vault, audit, actor="test:manager")
    await audit.aclose()


MakeManager = Callable[..., BrokerManager]


@pytest.fixture
async def make_manager(service: ConnectionService) -> AsyncIterator[MakeManager]:
    """Build managers over the test service; each is closed after the test."""
    made: list[BrokerManager] = []

    def make(**options: Any) -> BrokerManager:
        manager = BrokerManager(service, **options)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.aclose()
