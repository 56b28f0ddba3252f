"""Canary scan: plant secrets, run connect, refresh, orders and disconnect, then look for
them in the database file and its WAL, the logs, the audit events and every file the run
left behind: raw, base64, URL-encoded and hex. Zero hits."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from brokerlink import OrderRequest
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.bootstrap import connection_service, load_vault, open_audit_log
from brokerlink.core.enums import BrokerType
from brokerlink.storage.engine import open_database
from tests.canary import hits, scan_tree
from tests.integration.connections.test_service import SANDBOX, consent

CANARY_KEY = "PKCANARY5Q7W2E9R"
CANARY_SECRET = "canary-secret/9f8e+7d6c=5b4a&3z"


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Everything any logger says, at DEBUG, into a file the scan reads."""
    path = tmp_path / "run.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def _wal_bytes(home: Path) -> bytes:
    wal = home / "brokerlink.db-wal"
    assert wal.exists()
    return wal.read_bytes()


async def test_no_secret_reaches_disk_logs_or_audit(
    brokerlink_home: Path, tmp_path: Path, debug_log: Path, alpaca_url: str, tradier_url: str
) -> None:
    database = await open_database(f"sqlite+aiosqlite:///{brokerlink_home}/brokerlink.db")
    vault = await load_vault(database, FileKeyProvider())
    audit = await open_audit_log(database, vault)
    service = connection_service(database, vault, audit, actor="test:canary")
    secrets = [CANARY_KEY, CANARY_SECRET]

    keys = await service.add_with_keys(BrokerType.ALPACA, api_key=SecretStr(CANARY_KEY),
                                       api_secret=SecretStr(CANARY_SECRET), base_url=alpaca_url)
    oauth = await service.add_with_oauth(BrokerType.TRADIER, client=SANDBOX, open_url=consent,
                                         base_url=tradier_url)
    for record in (keys, oauth):
        opened = await service.open_broker(record.id)
        async with opened.broker as broker:
            if opened.tokens is not None:
                first = await opened.tokens.current_tokens()
                await opened.tokens.refresh_now()
                second = await opened.tokens.current_tokens()
                for tokens in (first, second):
                    secrets.append(tokens.access_token.get_secret_value())
                    if tokens.refresh_token is not None:
                        secrets.append(tokens.refresh_token.get_secret_value())
            await broker.place_order(OrderRequest(symbol="AAPL", side="buy",
                                                  quantity=Decimal(1)))
            await broker.get_positions()
    assert len(secrets) >= 5

    # While the database is open its WAL holds the latest pages: scan it now too.
    assert hits(_wal_bytes(brokerlink_home), secrets) == []
    events = [event for event in await audit.recent(1000)]
    assert {"connection.connect", "connection.refresh", "request.place_order"} <= {
        e.action for e in events}
    audit_dump = json.dumps([repr(e) for e in events] + [str(e.detail) for e in events])
    assert hits(audit_dump.encode(), secrets) == []

    for record in (keys, oauth):
        await service.remove(record.id)
    await audit.aclose()
    await database.aclose()

    _scan_everything_left(tmp_path, debug_log, secrets)


def _scan_everything_left(root: Path, log: Path, secrets: list[str]) -> None:
    assert log.stat().st_size > 0
    planted = root / "planted.txt"
    planted.write_text(f"proof the scan finds leaks: {CANARY_SECRET}")
    assert list(scan_tree(root, secrets)) == ["planted.txt"]
    planted.unlink()
    assert scan_tree(root, secrets) == {}
