"""Reading every connection at once: partial results, failures reported by connection."""

from __future__ import annotations

from decimal import Decimal

from brokerlink.adapters.paper import PaperSettings
from brokerlink.core.enums import BrokerType, DataSource
from brokerlink.core.errors import BrokerUnavailableError, ReauthRequiredError
from brokerlink.core.models import OrderRequest
from brokerlink.emulators import FaultKind, FaultRule
from brokerlink.manager.aggregate import ReadTimeoutError
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.records import ConnectionStatus
from tests.integration.manager.conftest import MakeManager
from tests.integration.manager.helpers import Emulator, alpaca_keys, tradier_token


async def test_one_down_one_slow_one_reauth_the_rest_answer(
        make_manager: MakeManager, alpaca: Emulator, alpaca_two: Emulator,
        tradier: Emulator) -> None:
    manager = make_manager(read_timeout=3.0)
    healthy = await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKHEALTHY01"))
    down = await manager.add_broker("alpaca", alpaca_keys(alpaca_two.url, "PKDOWN0001"))
    slow = await manager.add_broker("tradier", tradier_token(tradier.url, "slow-token-01"))
    paper = await manager.add_broker(
        "paper", settings=PaperSettings(cash=Decimal(50_000), market="always_open"))
    reauth = await manager.add_broker("tradier", tradier_token(tradier.url, "reauth-tok-1"))

    await manager.place_order(OrderRequest(symbol="AAPL", side="buy", quantity=5),
                              connection_id=healthy)
    await manager.place_order(OrderRequest(symbol="MSFT", side="buy", quantity=2),
                              connection_id=paper)

    # Down: every broker request answers 503. Slow: every request waits past the timeout.
    # Re-auth: the stored connection is marked as the token store marks a refused refresh.
    alpaca_two.env.faults.add(FaultRule(FaultKind.ERROR, path="/v2/*", status=503))
    tradier.env.faults.add(FaultRule(FaultKind.LATENCY, latency=6.0))
    await ConnectionRepository(manager.connections.database).update(
        reauth, status=ConnectionStatus.REAUTH_REQUIRED)

    positions = await manager.get_all_positions()
    assert set(positions.errors) == {down, slow, reauth}
    assert isinstance(positions.errors[down], BrokerUnavailableError)
    assert not isinstance(positions.errors[down], ReadTimeoutError)
    assert isinstance(positions.errors[slow], ReadTimeoutError)
    assert isinstance(positions.errors[reauth], ReauthRequiredError)
    for connection_id, error in positions.errors.items():
        assert error.connection_id == connection_id
    held = {(p.connection_id, p.value.symbol): p.value.quantity for p in positions.items}
    assert held == {(healthy, "AAPL"): Decimal(5), (paper, "MSFT"): Decimal(2)}
    sources = {p.connection_id: (p.broker, p.source) for p in positions.items}
    assert sources[healthy][0] is BrokerType.ALPACA
    assert sources[paper][0] is BrokerType.PAPER
    assert all(p.as_of.tzinfo is not None for p in positions.items)
    assert not positions.complete

    balances = await manager.get_all_balances()
    assert {b.connection_id for b in balances.items} == {healthy, paper}
    assert set(balances.errors) == {down, slow, reauth}

    views = {v.connection_id: v for v in await manager.get_connections()}
    assert views[healthy].status is ConnectionStatus.CONNECTED
    assert views[healthy].last_sync is not None
    assert views[paper].status is ConnectionStatus.CONNECTED
    assert views[down].status is ConnectionStatus.DEGRADED
    assert views[slow].status is ConnectionStatus.DEGRADED
    assert "ReadTimeoutError" in (views[slow].last_error or "")
    assert views[reauth].status is ConnectionStatus.REAUTH_REQUIRED

    # Faults cleared, the degraded connections come back; the re-auth one stays out.
    alpaca_two.env.faults.clear()
    tradier.env.faults.clear()
    again = await manager.get_all_positions()
    assert set(again.errors) == {reauth}
    views = {v.connection_id: v for v in await manager.get_connections()}
    assert views[down].status is ConnectionStatus.CONNECTED


async def test_orders_and_paper_state_live_with_the_manager(make_manager: MakeManager,
                                                             alpaca: Emulator) -> None:
    manager = make_manager(read_timeout=5.0)
    paper = await manager.add_broker("paper", settings=PaperSettings(market="always_open"))
    account = await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKORDERS01"))
    placed = await manager.place_order(
        OrderRequest(symbol="KO", side="buy", quantity=1, order_type="limit",
                     limit_price=Decimal("1.00")), connection_id=account)
    await manager.place_order(OrderRequest(symbol="KO", side="buy", quantity=3),
                              connection_id=paper)
    orders = await manager.get_orders()
    assert orders.complete
    by_connection = {o.connection_id: o.value for o in orders.items}
    assert by_connection[paper].symbol == "KO"
    assert by_connection[paper].quantity == 3
    assert placed.result is not None
    assert by_connection[account].order_id == placed.result.order_id
    assert all(o.source in (DataSource.LIVE, DataSource.SIMULATION) for o in orders.items)

    assert placed.result.order_id is not None
    assert await manager.cancel_order(account, placed.result.order_id)

    assert (await manager.reconcile_orders()).clean

    await manager.remove_broker(paper)
    assert [v.connection_id for v in await manager.get_connections()] == [account]
