"""``TradierBroker`` against the Tradier emulator over real loopback sockets: streaming,
typed errors, Tradier-only features, recovery from faults, and reconciliation of an
ambiguous write by tag."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from brokerlink.adapters._shared.stream import Backoff
from brokerlink.adapters.tradier import TradierAccountStream, TradierBroker
from brokerlink.core.enums import DataSource, OrderStatus
from brokerlink.core.errors import (
    AuthError,
    InsufficientFundsError,
    InvalidOrderError,
    NotSupportedError,
    OrderNotFoundError,
    RequestTimeoutError,
    SymbolNotFoundError,
    UnreadableAcknowledgementError,
)
from brokerlink.core.extras import MultiLegOrderRequest, OrderLeg
from brokerlink.core.models import OrderModify, OrderRequest
from tests.adapters.tradier.conftest import Rig
from tests.contract.harness import SESSION_START


async def test_stream_delivers_the_fill(rig: Rig) -> None:
    async with rig.broker.order_updates() as stream:
        await stream.wait_active()
        request = OrderRequest(symbol="AAPL", side="buy", quantity=2)
        placed = await rig.broker.place_order(request)
        seen: list[str] = []
        async with asyncio.timeout(10):
            async for update in stream:
                seen.append(update.event)
                if update.order.order_id == placed.order_id and update.event == "filled":
                    break
    assert seen == ["open", "filled"]
    order = update.order
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == 2
    assert order.symbol == "AAPL"
    assert order.client_order_id == request.client_order_id
    assert order.average_fill_price == placed.filled_price
    assert order.source is DataSource.STREAM


async def test_stream_reconnects_after_a_drop(rig: Rig) -> None:
    await rig.fault(kind="stream_drop", path="/v1/accounts/events", after_messages=1,
                    count=1)
    async with rig.broker.order_updates() as stream:
        await stream.wait_active()
        first = await rig.broker.place_order(OrderRequest(symbol="KO", side="buy",
                                                          quantity=1))
        async with asyncio.timeout(10):
            update = await anext(stream)
            assert (update.order.order_id, update.event) == (first.order_id, "open")
            # The fill message is where the injected drop happens: the stream reopens
            # itself with a new session, and says so.
            await stream.wait_active(reconnects=1)
        assert stream.reconnects == 1
        second = await rig.broker.place_order(OrderRequest(symbol="KO", side="buy",
                                                           quantity=1))
        async with asyncio.timeout(10):
            async for update in stream:
                if update.order.order_id == second.order_id and update.event == "filled":
                    break


async def test_typed_refusals(rig: Rig) -> None:
    with pytest.raises(SymbolNotFoundError):
        await rig.broker.place_order(OrderRequest(symbol="ZZZQX", side="buy", quantity=1))
    with pytest.raises(InsufficientFundsError) as funds:
        await rig.broker.place_order(OrderRequest(symbol="AAPL", side="buy",
                                                  quantity=100_000))
    assert "buying power" in funds.value.message
    with pytest.raises(InvalidOrderError):
        await rig.broker.place_order(OrderRequest(symbol="MSFT", side="sell", quantity=1))
    with pytest.raises(OrderNotFoundError):
        await rig.broker.get_order("999999")
    with pytest.raises(OrderNotFoundError):
        await rig.broker.cancel_order("999999")
    assert await rig.engine_orders() == []


async def test_modify_keeps_the_id_and_refuses_quantity(rig: Rig) -> None:
    await rig.call("POST", "/prices", {"symbol": "KO", "price": "60.00"})
    placed = await rig.broker.place_order(OrderRequest(
        symbol="KO", side="buy", quantity=5, order_type="limit", limit_price="50.00",
        time_in_force="gtc"))
    assert placed.order_id
    changed = await rig.broker.modify_order(placed.order_id,
                                            OrderModify(limit_price=Decimal("51.00")))
    assert changed.order_id == placed.order_id
    assert (await rig.broker.get_order(placed.order_id)).limit_price == Decimal("51.00")
    with pytest.raises(NotSupportedError):
        await rig.broker.modify_order(placed.order_id, OrderModify(quantity=Decimal(6)))


async def test_preview_places_nothing(rig: Rig) -> None:
    preview = await rig.broker.preview_order(OrderRequest(symbol="AAPL", side="buy",
                                                          quantity=3))
    assert preview.accepted
    assert preview.cost is not None
    assert preview.cost > 0
    assert await rig.broker.get_orders() == []
    with pytest.raises(InsufficientFundsError):
        await rig.broker.preview_order(OrderRequest(symbol="AAPL", side="buy",
                                                    quantity=1_000_000))


async def test_combo_order_is_listed_as_legs(rig: Rig) -> None:
    chain = (await rig.call("GET", "/options/KO"))["contracts"]
    call = sorted((c for c in chain if c["option_type"] == "call"),
                  key=lambda c: (c["expiration"], Decimal(c["strike"])))[-1]
    # A covered call: the emulator works legs one by one, so the shares come first.
    order = MultiLegOrderRequest(underlying="KO", client_order_id="bl-combo-1", legs=(
        OrderLeg(symbol="KO", side="buy", quantity=Decimal(100)),
        OrderLeg(symbol=call["symbol"], side="sell_to_open", quantity=Decimal(1))))
    result = await rig.broker.place_multileg_order(order)
    assert result.order_id
    assert result.client_order_id == "bl-combo-1"
    legs = [o for o in await rig.broker.get_orders() if o.client_order_id == "bl-combo-1"]
    assert {o.symbol for o in legs} == {"KO", call["symbol"]}
    assert {o.status for o in legs} == {OrderStatus.FILLED}


async def test_positions_and_balances_agree(rig: Rig) -> None:
    await rig.broker.place_order(OrderRequest(symbol="MSFT", side="buy", quantity=4))
    positions = await rig.broker.get_positions()
    balances = await rig.broker.get_balances()
    assert [p.symbol for p in positions] == ["MSFT"]
    assert positions[0].market_value == balances.market_value
    assert positions[0].unrealized_pnl is not None
    # as_of is the broker's clock (the emulator's virtual one), not this machine's.
    assert balances.as_of == SESSION_START


async def test_reads_recover_from_5xx_and_429(rig: Rig) -> None:
    await rig.fault(kind="error", status=503, path="/v1/accounts/*/balances", count=2)
    await rig.fault(kind="rate_limit", retry_after=0, path="/v1/markets/quotes", count=1)
    balances = await rig.broker.get_balances()
    assert balances.cash == Decimal(50000)
    quote = await rig.broker.get_quote("AAPL")
    assert quote.last is not None
    attempts = {e.operation: e.attempts for e in rig.audit.events}
    assert attempts["get_balances"] == 3
    assert attempts["get_quotes"] == 2


async def test_accept_then_drop_is_reconciled_by_tag(rig: Rig) -> None:
    await rig.fault(kind="drop_after", method="POST", path="/v1/accounts/*/orders", count=1)
    request = OrderRequest(symbol="AAPL", side="buy", quantity=1)
    with pytest.raises(RequestTimeoutError) as raised:
        await rig.broker.place_order(request)
    assert raised.value.client_order_id == request.client_order_id
    assert len(await rig.engine_orders()) == 1
    found = await rig.broker.get_order_by_client_id(request.client_order_id)
    assert found.status is OrderStatus.FILLED
    assert found.client_order_id == request.client_order_id
    assert len(await rig.broker.get_orders()) == 1


async def test_lookup_by_client_id_finds_the_newest_and_refuses_the_unknown(rig: Rig) -> None:
    first = await rig.broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=1,
                                                      client_order_id="bl-twice"))
    second = await rig.broker.place_order(OrderRequest(symbol="KO", side="buy",
                                                       quantity=2, client_order_id="bl-twice"))
    assert first.order_id != second.order_id
    found = await rig.broker.get_order_by_client_id("bl-twice")
    assert (found.order_id, found.quantity) == (second.order_id, Decimal(2))
    with pytest.raises(OrderNotFoundError):
        await rig.broker.get_order_by_client_id("bl-never-sent")
    with pytest.raises(InvalidOrderError):
        await rig.broker.get_order_by_client_id("not_a.tag")


async def test_the_stream_reopens_after_backoff(rig: Rig) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        # Recorded, not slept: the test checks the backoff without waiting it out.
        waits.append(seconds)

    await rig.fault(kind="stream_drop", path="/v1/accounts/events", after_messages=1,
                    count=2)
    stream = TradierAccountStream(rig.broker.client, rig.account_id, sleep=sleep,
                                  jitter_source=lambda: 0.0,
                                  backoff=Backoff(base=0.5, cap=0.75, jitter=0.5))
    async with stream:
        await stream.wait_active()
        async with asyncio.timeout(10):
            # The emulator drops a connection at its next message after the first: an
            # order's. Each drop comes soon after the connection opened, so the streak
            # grows, and with the jitter drawn at 0 each wait is half its capped ceiling.
            for reconnects in (1, 2):
                await rig.broker.place_order(OrderRequest(symbol="KO", side="buy",
                                                          quantity=1))
                await stream.wait_active(reconnects=reconnects)
    assert waits == [0.25, 0.375]
    assert stream.delays == waits


async def test_unknown_token_is_an_auth_error(rig: Rig) -> None:
    rig.env.accounts.revoke_bearer(rig.token)
    with pytest.raises(AuthError) as raised:
        await rig.broker.get_balances()
    assert rig.token not in str(raised.value)
    stranger = TradierBroker(access_token="not a token", base_url=rig.server.url)
    with pytest.raises(AuthError):
        await stranger.connect()
    await stranger.disconnect()


async def test_gain_loss_after_a_round_trip(rig: Rig) -> None:
    await rig.call("POST", "/prices", {"symbol": "PEP", "price": "150.00"})
    bought = await rig.broker.place_order(OrderRequest(symbol="PEP", side="buy", quantity=4))
    await rig.call("POST", "/prices", {"symbol": "PEP", "price": "160.00"})
    sold = await rig.broker.place_order(OrderRequest(symbol="PEP", side="sell", quantity=4))
    assert bought.filled_price is not None
    assert sold.filled_price is not None
    closed = await rig.broker.get_gain_loss()
    assert [(c.symbol, c.quantity) for c in closed] == [("PEP", Decimal(4))]
    assert closed[0].cost == 4 * bought.filled_price
    assert closed[0].proceeds == 4 * sold.filled_price
    assert closed[0].gain_loss == closed[0].proceeds - closed[0].cost


async def test_capabilities_follow_the_account(rig: Rig) -> None:
    capabilities = rig.broker.capabilities
    assert capabilities.options_level == 2
    assert capabilities.short_selling
    assert capabilities.order_preview
    # The lookup by client order id works (through the tag), so the flag says so.
    assert capabilities.client_order_ids


async def test_registry_style_factory_reaches_the_emulator(rig: Rig) -> None:
    from brokerlink.adapters.tradier.broker import create

    async with create(access_token=rig.token, emulator_url=rig.server.url) as broker:
        account = await broker.get_account()
        assert account.account_id == rig.account_id
        assert repr(broker).count(rig.token) == 0


@pytest.mark.parametrize("malformed", ["empty_object", "null", "deep_json", "truncated",
                                       "html", "empty"])
async def test_lookup_right_after_an_unreadable_acknowledgement(rig: Rig,
                                                                malformed: str) -> None:
    # The emulator places the order, then answers with a body that cannot be read.
    await rig.fault(kind="malformed_ack", method="POST", path="/v1/accounts/*/orders",
                    malformed=malformed, count=1)
    request = OrderRequest(symbol="PEP", side="buy", quantity=3)
    with pytest.raises(UnreadableAcknowledgementError) as raised:
        await rig.broker.place_order(request)
    assert raised.value.client_order_id == request.client_order_id
    # At once, with no wait: the lookup by tag finds the one order the write left.
    found = await rig.broker.get_order_by_client_id(request.client_order_id)
    assert (found.symbol, found.quantity, found.status) == (
        "PEP", Decimal(3), OrderStatus.FILLED)
    assert [o.order_id for o in await rig.broker.get_orders()] == [found.order_id]


async def test_unreadable_change_and_cancel_answers_are_ambiguous(rig: Rig) -> None:
    await rig.call("POST", "/prices", {"symbol": "KO", "price": "60.00"})
    placed = await rig.broker.place_order(OrderRequest(
        symbol="KO", side="buy", quantity=5, order_type="limit", limit_price="50.00",
        time_in_force="gtc"))
    assert placed.order_id
    await rig.fault(kind="malformed_ack", method="PUT", path="/v1/accounts/*/orders/*",
                    count=1)
    with pytest.raises(UnreadableAcknowledgementError):
        await rig.broker.modify_order(placed.order_id,
                                      OrderModify(limit_price=Decimal("51.00")))
    # The change took effect although its answer could not be read.
    assert (await rig.broker.get_order(placed.order_id)).limit_price == Decimal("51.00")
    await rig.fault(kind="malformed_ack", method="DELETE", path="/v1/accounts/*/orders/*",
                    malformed="list", count=1)
    with pytest.raises(UnreadableAcknowledgementError):
        await rig.broker.cancel_order(placed.order_id)
    assert (await rig.broker.get_order(placed.order_id)).status is OrderStatus.CANCELED
