"""Fixtures for the CLI end-to-end tests: a private home and database per test, the
emulators on loopback, and the logging state the CLI changes put back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from brokerlink.adapters._shared.redaction import uninstall_record_redaction
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from tests.dbfixtures import brokerlink_home, db_target

__all__ = ["brokerlink_home", "db_target", "emulators", "restore_logging"]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Every CLI run configures the root logger and the record factory: undo it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    yield
    uninstall_record_redaction()
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def emulators() -> Iterator[tuple[str, str]]:
    """Alpaca's and Tradier's emulators, each on its own loop in a thread (the CLI runs
    its own event loop)."""
    with EmulatorServer.run_in_thread(alpaca_app()) as alpaca, \
            EmulatorServer.run_in_thread(tradier_app()) as tradier:
        yield alpaca.url, tradier.url
