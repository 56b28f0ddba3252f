"""Issue 19 B on Alpaca, over a real loopback socket: a 200 answer to place, modify or
cancel whose body cannot be read is an ambiguous ``UnreadableAcknowledgementError``
(carrying the client order id; the write is never resent), and ``connect`` on an
unreadable account answer raises a ``BrokerError``, never pydantic's ``ValidationError``
or a ``RecursionError``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokerlink.adapters._shared.retry import RetryPolicy
from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.core.errors import (
    RequestTimeoutError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)
from brokerlink.core.models import OrderModify, OrderRequest
from tests.unit.kit.loopback import MALFORMED_BODIES, Answer, LoopbackServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alpaca"
ACCOUNT = json.dumps(json.loads((FIXTURES / "account.json").read_text())["payload"]).encode()
ORDER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
# The writes' answers that Alpaca documents as a full order; "list" ([]) is among them.
WRITE_BODIES = sorted(MALFORMED_BODIES)


def _broker(url: str) -> AlpacaBroker:
    return AlpacaBroker(AlpacaAuth(key_id="key-1", secret_key="secret-canary-55"),
                        config=AlpacaConfig.emulator(url),
                        retry=RetryPolicy(max_attempts=1))


async def _connected(body: bytes) -> AsyncIterator[tuple[AlpacaBroker, LoopbackServer]]:
    bad = Answer(200, body)
    routes = {("GET", "/v2/account"): Answer(200, ACCOUNT),
              ("POST", "/v2/orders"): bad,
              ("PATCH", f"/v2/orders/{ORDER_ID}"): bad,
              ("DELETE", f"/v2/orders/{ORDER_ID}"): bad}
    async with LoopbackServer(routes) as server:
        broker = _broker(server.url)
        try:
            await broker.connect()
            yield broker, server
        finally:
            await broker.disconnect()


@pytest.mark.parametrize("kind", WRITE_BODIES)
async def test_an_unreadable_placement_answer_is_ambiguous(kind: str) -> None:
    async for broker, server in _connected(MALFORMED_BODIES[kind]):
        request = OrderRequest(symbol="AAPL", side="buy", quantity=Decimal(1))
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await broker.place_order(request)
        assert raised.value.client_order_id == request.client_order_id
        assert "do not resend" in raised.value.message
        assert "secret-canary-55" not in str(raised.value)
        assert server.count("POST", "/v2/orders") == 1


@pytest.mark.parametrize("kind", WRITE_BODIES)
async def test_an_unreadable_modify_answer_is_ambiguous(kind: str) -> None:
    async for broker, server in _connected(MALFORMED_BODIES[kind]):
        changes = OrderModify(limit_price=Decimal("10.5"), client_order_id="replace-1")
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await broker.modify_order(ORDER_ID, changes)
        assert raised.value.client_order_id == "replace-1"
        assert server.count("PATCH", f"/v2/orders/{ORDER_ID}") == 1


@pytest.mark.parametrize("kind", WRITE_BODIES)
async def test_an_unreadable_200_to_a_cancel_is_ambiguous(kind: str) -> None:
    async for broker, server in _connected(MALFORMED_BODIES[kind]):
        with pytest.raises(UnreadableAcknowledgementError):
            await broker.cancel_order(ORDER_ID)
        assert server.count("DELETE", f"/v2/orders/{ORDER_ID}") == 1


async def test_a_204_cancel_is_accepted() -> None:
    routes = {("GET", "/v2/account"): Answer(200, ACCOUNT),
              ("DELETE", f"/v2/orders/{ORDER_ID}"): Answer(204)}
    async with LoopbackServer(routes) as server:
        broker = _broker(server.url)
        await broker.connect()
        assert await broker.cancel_order(ORDER_ID) is True
        await broker.disconnect()


async def test_an_order_the_mapping_refuses_is_an_unreadable_acknowledgement() -> None:
    order = json.loads((FIXTURES / "order_equity.json").read_text())["payload"]
    order["side"] = "sideways"  # valid JSON, valid wire model, no core side for it
    async for broker, _ in _connected(json.dumps(order).encode()):
        with pytest.raises(UnreadableAcknowledgementError):
            await broker.place_order(OrderRequest(symbol="AAPL", side="buy", quantity=1))


@pytest.mark.parametrize("kind", sorted(MALFORMED_BODIES))
async def test_connect_on_an_unreadable_account_is_a_broker_error(kind: str) -> None:
    routes = {("GET", "/v2/account"): Answer(200, MALFORMED_BODIES[kind])}
    async with LoopbackServer(routes) as server:
        broker = _broker(server.url)
        with pytest.raises(UnexpectedResponseError) as raised:
            await broker.connect()
        assert not isinstance(raised.value, RequestTimeoutError)
        assert not broker.is_connected()
        await broker.disconnect()


async def test_is_connected_follows_connect_and_disconnect() -> None:
    async with LoopbackServer({("GET", "/v2/account"): Answer(200, ACCOUNT)}) as server:
        broker = _broker(server.url)
        assert broker.is_connected() is False
        await broker.connect()
        assert broker.is_connected() is True
        await broker.disconnect()
        assert broker.is_connected() is False
