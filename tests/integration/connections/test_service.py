"""Connections: tested before saving, sealed at rest, audited, reopened, removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from brokerlink import OrderRequest, OrderStatus
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import connection_service, open_audit_log
from brokerlink.core.enums import BrokerType
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators._shared.oauth_server import SANDBOX_CLIENT
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.manager.connections import ConnectionService, ConnectionTestError
from brokerlink.storage.connections import ConnectionNotFoundError
from brokerlink.storage.engine import Database
from brokerlink.storage.records import ConnectionStatus
from brokerlink.storage.tables import credentials

SANDBOX = OAuthClientCredentials(SANDBOX_CLIENT.client_id,
                                 SecretStr(SANDBOX_CLIENT.client_secret or ""))


async def consent(url: str) -> None:
    """The emulator's authorize page consents at once; follow it to the receiver."""
    async with httpx.AsyncClient(follow_redirects=True) as client:
        await client.get(url)


async def _credential_rows(service: ConnectionService, connection_id: str) -> int:
    async with service.database.transaction() as conn:
        count = await conn.scalar(select(func.count()).select_from(credentials).where(
            credentials.c.connection_id == connection_id))
    return int(count or 0)


async def _actions(service: ConnectionService) -> list[str]:
    return [event.action for event in await service.audit.recent(500)]


async def test_api_key_connection_lifecycle(service: ConnectionService, alpaca_url: str) -> None:
    record = await service.add_with_keys(
        BrokerType.ALPACA, api_key=SecretStr("PKLIFECYCLE01"),
        api_secret=SecretStr("lifecycle-secret"), base_url=alpaca_url)
    assert record.status is ConnectionStatus.CONNECTED
    assert record.account_ids
    assert [r.id for r in await service.list()] == [record.id]
    assert await _credential_rows(service, record.id) == 2

    opened = await service.open_broker(record.id)
    assert opened.tokens is None
    async with opened.broker as broker:
        placed = await broker.place_order(
            OrderRequest(symbol="AAPL", side="buy", quantity=Decimal(2)))
        assert placed.status is OrderStatus.FILLED
        assert (await broker.get_account()).account_id == record.account_ids[0]

    await service.remove(record.id)
    assert await service.list() == []
    assert await _credential_rows(service, record.id) == 0
    with pytest.raises(ConnectionNotFoundError):
        await service.open_broker(record.id)
    actions = await _actions(service)
    for expected in ("connection.connect", "request.place_order", "connection.remove"):
        assert expected in actions
    assert (await service.audit.verify()).ok


async def test_refused_credentials_store_nothing(service: ConnectionService) -> None:
    async with EmulatorServer(alpaca_app(strict=True)) as server:
        with pytest.raises(ConnectionTestError, match="nothing was saved") as raised:
            await service.add_with_keys(BrokerType.ALPACA, api_key=SecretStr("PKUNKNOWN1"),
                                        api_secret=SecretStr("refused-secret"),
                                        base_url=server.url)
    assert "refused-secret" not in str(raised.value)
    assert await service.list() == []
    assert raised.value.connection_id is not None
    assert await _credential_rows(service, raised.value.connection_id) == 0
    assert "connection.test" in await _actions(service)


async def test_tradier_oauth_connection_refreshes(service: ConnectionService,
                                                  tradier_url: str) -> None:
    record = await service.add_with_oauth(BrokerType.TRADIER, client=SANDBOX,
                                          open_url=consent, base_url=tradier_url)
    assert record.access_token_expires_at is not None
    opened = await service.open_broker(record.id)
    assert opened.tokens is not None
    async with opened.broker as broker:
        before = await opened.tokens.current_tokens()
        await opened.tokens.refresh_now()
        after = await opened.tokens.current_tokens()
        assert after.access_token.get_secret_value() != before.access_token.get_secret_value()
        # The broker keeps working on the refreshed token.
        placed = await broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=3))
        assert placed.status is OrderStatus.FILLED
    stored = await service.get(record.id)
    assert (stored.refresh_attempts, stored.refresh_successes) == (1, 1)
    assert "connection.refresh" in await _actions(service)
    assert (await service.audit.verify()).ok


async def test_alpaca_oauth_connection(service: ConnectionService, alpaca_url: str) -> None:
    record = await service.add_with_oauth(BrokerType.ALPACA, client=SANDBOX,
                                          open_url=consent, base_url=alpaca_url)
    opened = await service.open_broker(record.id)
    async with opened.broker as broker:
        assert (await broker.get_balances()).cash > 0
    assert record.access_token_expires_at is None  # Alpaca tokens do not expire


class SteppingClock:
    """Wall time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def test_tokens_refresh_by_themselves(database: Database, vault: Vault,
                                            tradier_url: str) -> None:
    clock = SteppingClock()
    audit = await open_audit_log(database, vault)
    service = connection_service(database, vault, audit, actor="test:auto", clock=clock)
    record = await service.add_with_oauth(BrokerType.TRADIER, client=SANDBOX,
                                          open_url=consent, base_url=tradier_url)
    opened = await service.open_broker(record.id)
    async with opened.broker as broker, httpx.AsyncClient(base_url=tradier_url) as admin:
        first = (await opened.broker.get_account()).account_id
        # A day later Tradier's 24-hour token has expired at the broker too.
        clock.offset = timedelta(hours=25)
        advanced = await admin.post("/_emulator/clock/advance", json={"seconds": 25 * 3600})
        assert advanced.status_code == 200
        # A write is never retried after a 401, so this order only goes through if the
        # token was refreshed before the request left.
        placed = await broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=1))
        assert placed.status is OrderStatus.FILLED
        assert (await broker.get_account()).account_id == first
    stored = await service.get(record.id)
    assert (stored.refresh_attempts, stored.refresh_successes) == (1, 1)
    assert [e.outcome for e in await audit.recent(100)
            if e.action == "connection.refresh"] == ["ok"]
    await audit.aclose()
