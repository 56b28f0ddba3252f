"""The manager's live sync: every connection kept current, the journal following it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from brokerlink.adapters.paper import PaperSettings
from brokerlink.core.enums import OrderStatus, OrderType
from brokerlink.core.errors import BrokerUnavailableError
from brokerlink.core.models import Order, OrderRequest, Position
from brokerlink.emulators import FaultKind, FaultRule
from brokerlink.manager.journal import OrderJournal
from brokerlink.manager.sync import SyncPolicy
from brokerlink.manager.sync_events import SyncEvent, SyncEventKind
from brokerlink.storage.records import ConnectionStatus
from tests.integration.manager.conftest import MakeManager
from tests.integration.manager.helpers import Emulator, alpaca_keys, tradier_token

FAST = SyncPolicy(poll_interval=0.2, reconcile_interval=None)


def _position_of(connection_id: str, symbol: str, quantity: Decimal,
                 ) -> Callable[[SyncEvent], bool]:
    def matches(event: SyncEvent) -> bool:
        return (event.kind is SyncEventKind.POSITION and event.connection_id == connection_id
                and isinstance(event.payload, Position) and event.payload.symbol == symbol
                and event.payload.quantity == quantity)
    return matches


async def test_live_sync_keeps_every_connection_and_the_journal_current(
        make_manager: MakeManager, alpaca: Emulator, tradier: Emulator) -> None:
    manager = make_manager(read_timeout=5.0)
    on_alpaca = await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKLIVESYNC1"))
    on_tradier = await manager.add_broker("tradier", tradier_token(tradier.url, "live-tok-1"))
    paper = await manager.add_broker("paper", settings=PaperSettings(market="always_open"))

    live = await manager.start_sync(policy=FAST)
    assert live.skipped == {}
    assert live.engine.connection_ids == sorted([on_alpaca, on_tradier, paper])
    events = live.engine.subscribe()

    buy = OrderRequest(symbol="AAPL", side="buy", quantity=3)
    placed = {cid: await manager.place_order(buy, connection_id=cid)
              for cid in (on_alpaca, on_tradier, paper)}
    for cid in placed:
        await events.wait_for(_position_of(cid, "AAPL", Decimal(3)), within=10)
        assert live.engine.state(cid).positions["AAPL"].quantity == Decimal(3)

    # A resting limit order, then canceled at the broker behind the journal's back:
    # the sync sees the cancellation and the journal follows.
    resting = OrderRequest(symbol="MSFT", side="buy", quantity=1, order_type=OrderType.LIMIT,
                           limit_price=Decimal("1.00"))
    rest = await manager.place_order(resting, connection_id=on_alpaca)
    assert rest.result is not None
    assert rest.result.order_id is not None
    rest_id = rest.result.order_id
    await manager.cancel_order(on_alpaca, rest_id)
    await events.wait_for(lambda e: e.kind is SyncEventKind.ORDER
                          and isinstance(e.payload, Order) and e.payload.order_id == rest_id
                          and e.payload.status is OrderStatus.CANCELED, within=10)

    assert live.feed is not None
    await live.feed.drain()
    assert live.feed.failed == 0
    journal = manager.journal
    assert isinstance(journal, OrderJournal)
    by_connection = {i.connection_id: i for i in await journal.intents()
                     if i.symbol == "AAPL"}
    assert {cid: i.status for cid, i in by_connection.items()} == {
        on_alpaca: OrderStatus.FILLED, on_tradier: OrderStatus.FILLED,
        paper: OrderStatus.FILLED}
    canceled = [i for i in await journal.intents(connection_id=on_alpaca) if i.symbol == "MSFT"]
    assert [i.status for i in canceled] == [OrderStatus.CANCELED]

    views = {v.connection_id: v for v in await manager.get_connections()}
    assert all(v.last_sync is not None for v in views.values())
    await manager.stop_sync()
    assert manager.live_sync is None


async def test_a_connection_down_at_start_is_skipped_and_one_added_later_joins(
        make_manager: MakeManager, alpaca: Emulator, alpaca_two: Emulator) -> None:
    manager = make_manager(read_timeout=3.0)
    healthy = await manager.add_broker("alpaca", alpaca_keys(alpaca.url, "PKLIVEOK01"))
    down = await manager.add_broker("alpaca", alpaca_keys(alpaca_two.url, "PKLIVEDOWN1"))
    # A fresh manager (a restart): nothing is connected yet, and one broker is down.
    restarted = make_manager(read_timeout=3.0)
    alpaca_two.env.faults.add(FaultRule(FaultKind.ERROR, path="/v2/*", status=503))

    live = await restarted.start_sync(policy=FAST)
    assert live.engine.connection_ids == [healthy]
    assert isinstance(live.skipped[down], BrokerUnavailableError)
    views = {v.connection_id: v for v in await restarted.get_connections()}
    assert views[down].status is ConnectionStatus.DEGRADED
    assert views[healthy].last_sync is not None

    events = live.engine.subscribe()
    added = await restarted.add_broker("paper", settings=PaperSettings(market="always_open"))
    assert added in live.engine.connection_ids
    await restarted.place_order(OrderRequest(symbol="SPY", side="buy", quantity=2),
                                connection_id=added)
    await events.wait_for(_position_of(added, "SPY", Decimal(2)), within=10)

    await restarted.remove_broker(added)
    assert added not in live.engine.connection_ids
    await restarted.aclose()
    assert restarted.live_sync is None
