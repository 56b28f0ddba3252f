"""Paper connections: settings stored without secrets, state kept by the manager."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import func, select

from brokerlink.core.models import OrderRequest
from brokerlink.manager.connections import ConnectionService
from brokerlink.manager.manager import PaperSettings
from brokerlink.storage.tables import credentials
from tests.integration.manager.conftest import MakeManager
from tests.integration.manager.helpers import Emulator, alpaca_keys


async def _credential_rows(service: ConnectionService, connection_id: str) -> int:
    async with service.database.transaction() as conn:
        count = await conn.scalar(select(func.count()).select_from(credentials).where(
            credentials.c.connection_id == connection_id))
    return int(count or 0)


async def test_paper_connection_stores_settings_not_secrets(service: ConnectionService) -> None:
    record = await service.add_paper(cash=Decimal(2500), seed=3, market="always_open",
                                     label="practice")
    assert record.broker == "paper"
    assert record.label == "practice"
    assert record.base_url is not None
    assert record.base_url.startswith("paper:?")
    assert "cash=2500" in record.base_url
    assert record.account_ids[0].startswith("PAPER-")
    assert await _credential_rows(service, record.id) == 0

    opened = await service.open_broker(record.id)
    assert opened.tokens is None
    async with opened.broker as broker:
        assert (await broker.get_balances()).cash == Decimal(2500)
        assert (await broker.get_account()).account_id == record.account_ids[0]
    connect = [e for e in await service.audit.recent(50) if e.action == "connection.connect"]
    assert json.loads(connect[0].detail)["method"] == "paper"
    await service.remove(record.id)
    assert await service.list() == []


async def test_paper_state_lives_as_long_as_its_manager(make_manager: MakeManager) -> None:
    first = make_manager()
    paper = await first.add_broker("paper", paper=PaperSettings(market="always_open"))
    await first.place_order(OrderRequest(symbol="AAPL", side="buy", quantity=4),
                            connection_id=paper)
    held = await first.get_all_positions()
    assert [(p.value.symbol, p.value.quantity) for p in held.items] == [("AAPL", Decimal(4))]

    # Another manager (another process, say) rebuilds the account from its settings.
    second = make_manager()
    fresh = await second.get_all_positions()
    assert fresh.complete
    assert fresh.items == ()


async def test_views_and_errors_carry_no_secrets(make_manager: MakeManager,
                                                 alpaca: Emulator) -> None:
    manager = make_manager(read_timeout=5.0)
    await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKNOSECRET1"))
    views = await manager.get_connections()
    balances = await manager.get_all_balances()
    text = repr(views) + repr(balances) + repr(manager)
    assert "PKNOSECRET1-secret" not in text
    assert "PKNOSECRET1" not in text
