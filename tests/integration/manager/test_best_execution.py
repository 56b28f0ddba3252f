"""Best execution against emulators: ranking with reasons, audit record, auto placement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerlink.adapters.paper import PaperSettings
from brokerlink.core.errors import MarketClosedError
from brokerlink.core.models import OrderRequest
from brokerlink.manager.commissions import CommissionRule, CommissionSchedule
from brokerlink.manager.manager import BrokerManager
from brokerlink.manager.market_hours import ClosedMarketPolicy, MarketHours
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.records import ConnectionStatus
from tests.integration.manager.conftest import MakeManager
from tests.integration.manager.helpers import Emulator, alpaca_keys, tradier_token


async def _connect_all(manager: BrokerManager, alpaca: Emulator,
                       tradier: Emulator) -> tuple[str, str, str, str]:
    alpaca_id = await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKROUTE001"))
    tradier_id = await manager.add_broker("tradier", tradier_token(tradier.url, "route-tok-1"))
    # A small paper account: its buying power cannot cover the test order.
    paper_id = await manager.add_broker(
        "paper", settings=PaperSettings(cash=Decimal(100), market="always_open"))
    reauth_id = await manager.add_broker("tradier", tradier_token(tradier.url, "route-tok-2"))
    await ConnectionRepository(manager.connections.database).update(
        reauth_id, status=ConnectionStatus.REAUTH_REQUIRED)
    alpaca.env.engine.set_price("AAPL", Decimal(150))
    tradier.env.engine.set_price("AAPL", Decimal(149))
    return alpaca_id, tradier_id, paper_id, reauth_id


async def test_ranking_reasons_and_audit(make_manager: MakeManager, alpaca: Emulator,
                                         tradier: Emulator) -> None:
    manager = make_manager(read_timeout=5.0)
    alpaca_id, tradier_id, paper_id, reauth_id = await _connect_all(manager, alpaca, tradier)

    plan = await manager.find_best_execution(
        OrderRequest(symbol="AAPL", side="buy", quantity=10))
    assert plan.chosen is not None
    assert plan.chosen.connection_id == tradier_id
    order = [c.connection_id for c in plan.ranked]
    assert order[:2] == [tradier_id, alpaca_id]
    assert set(order[2:]) == {paper_id, reauth_id}
    by_id = {c.connection_id: c for c in plan.ranked}
    assert by_id[tradier_id].rank == 1
    assert by_id[alpaca_id].rank == 2
    tradier_price, alpaca_price = by_id[tradier_id].price, by_id[alpaca_id].price
    assert tradier_price is not None
    assert alpaca_price is not None
    assert tradier_price < alpaca_price
    assert any("chosen" in r for r in by_id[tradier_id].reasons)
    assert any(r.startswith("ask ") for r in by_id[tradier_id].reasons)
    assert any("buying power" in r and "below" in r for r in by_id[paper_id].reasons)
    assert not by_id[paper_id].eligible
    assert not by_id[reauth_id].eligible
    assert any("re-authentication" in r for r in by_id[reauth_id].reasons)

    events = [e for e in await manager.connections.audit.recent(100)
              if e.action == "manager.best_execution"]
    assert len(events) == 1
    assert events[0].connection_id == tradier_id
    detail = json.loads(events[0].detail)
    assert detail["chosen"] == tradier_id
    assert {c["connection_id"] for c in detail["candidates"]} == set(order)
    assert (await manager.connections.audit.verify()).ok

    # A fractional order: Tradier cannot take it, so Alpaca wins.
    fractional = await manager.find_best_execution(
        OrderRequest(symbol="AAPL", side="buy", quantity=Decimal("1.5")))
    assert fractional.chosen is not None
    assert fractional.chosen.connection_id == alpaca_id
    excluded = {c.connection_id: c for c in fractional.ranked}[tradier_id]
    assert not excluded.eligible
    assert any("fractional" in r for r in excluded.reasons)


async def test_commission_changes_the_choice(make_manager: MakeManager, alpaca: Emulator,
                                             tradier: Emulator) -> None:
    setup = make_manager(read_timeout=5.0)
    alpaca_id, tradier_id, _, _ = await _connect_all(setup, alpaca, tradier)
    # $50 a ticket at Tradier is $5 a share on 10 shares: more than the $1 price gap.
    schedule = CommissionSchedule(by_connection={
        tradier_id: CommissionRule(per_order=Decimal(50))})
    manager = make_manager(read_timeout=5.0, commissions=schedule)
    plan = await manager.find_best_execution(OrderRequest(symbol="AAPL", side="buy",
                                                          quantity=10))
    assert plan.chosen is not None
    assert plan.chosen.connection_id == alpaca_id
    tradier_row = {c.connection_id: c for c in plan.ranked}[tradier_id]
    assert tradier_row.commission == Decimal(50)
    assert any("commission 50" in r for r in tradier_row.reasons)


async def test_place_via_auto_is_sent_once_per_key(make_manager: MakeManager,
                                                   alpaca: Emulator, tradier: Emulator) -> None:
    manager = make_manager(read_timeout=5.0)
    _, tradier_id, _, _ = await _connect_all(manager, alpaca, tradier)
    order = OrderRequest(symbol="AAPL", side="buy", quantity=3)
    first = await manager.place_order(order, idempotency_key="auto-key-1")
    assert first.connection_id == tradier_id
    assert first.plan is not None
    assert first.plan.chosen is not None
    assert first.result is not None
    assert first.result.order_id is not None

    # The same key again, after prices moved: it goes to the same connection's journal
    # entry and nothing new is sent.
    tradier.env.engine.set_price("AAPL", Decimal(170))
    again = await manager.place_order(order, idempotency_key="auto-key-1")
    assert again.connection_id == tradier_id
    assert again.result is not None
    assert again.result.order_id == first.result.order_id
    orders = await manager.get_orders()
    assert len([o for o in orders.items if o.connection_id == tradier_id]) == 1



async def test_closed_market_policies(make_manager: MakeManager, alpaca: Emulator) -> None:
    saturday = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    manager = make_manager(read_timeout=5.0, market_hours=MarketHours(clock=lambda: saturday))
    account = await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKCLOSED01"))
    order = OrderRequest(symbol="AAPL", side="buy", quantity=1)
    with pytest.raises(MarketClosedError) as raised:
        await manager.place_order(order, connection_id=account,
                                  when_closed=ClosedMarketPolicy.REJECT)
    assert raised.value.next_open is not None
    assert raised.value.next_open > saturday
    queued = await manager.place_order(order, connection_id=account,
                                       when_closed=ClosedMarketPolicy.QUEUE)
    assert queued.result is None
    assert queued.queued is not None
    assert queued.queued.release_at == raised.value.next_open
    orders = await manager.get_orders()
    assert orders.for_connection(account) == []
