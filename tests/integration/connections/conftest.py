"""Fixtures: databases (SQLite and PostgreSQL), emulators on loopback, a service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import connection_service, open_audit_log
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from brokerlink.manager.connections import ConnectionService
from brokerlink.storage.engine import Database
from tests.dbfixtures import brokerlink_home, database, db_target, vault

__all__ = ["brokerlink_home", "database", "db_target", "vault"]


@pytest.fixture
async def alpaca_url() -> AsyncIterator[str]:
    async with EmulatorServer(alpaca_app()) as server:
        yield server.url


@pytest.fixture
async def tradier_url() -> AsyncIterator[str]:
    async with EmulatorServer(tradier_app()) as server:
        yield server.url


@pytest.fixture
async def service(database: Database, vault: Vault) -> AsyncIterator[ConnectionService]:
    audit = await open_audit_log(database, vault)
    # The database fixture closes the database; the service only owns the audit log.
    yield connection_service(database, vault, audit, actor="test:connections")
    await audit.aclose()
