"""Issue 19 item 13 on Alpaca, over a real loopback socket: a write answered with a
success status Alpaca does not document for it (an empty 201 or 204 to a place or a
replace, an empty 201 to a cancel) may have been acted on, so it is the ambiguous
``UnreadableAcknowledgementError`` (carrying the client order id, sent once), never a
plain ``BrokerError`` that reads as "not acted on". The documented 204 to a cancel stays
a success, and a readable order under another 2xx is read as the order it is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokerlink.adapters._shared.retry import RetryPolicy
from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.core.errors import UnreadableAcknowledgementError
from brokerlink.core.models import OrderModify, OrderRequest
from tests.unit.kit.loopback import Answer, LoopbackServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alpaca"
ACCOUNT = json.dumps(json.loads((FIXTURES / "account.json").read_text())["payload"]).encode()
ORDER = json.loads((FIXTURES / "order_equity.json").read_text())["payload"]
ORDER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
EMPTY_SUCCESSES = [Answer(201, b""), Answer(204, b"", content_type=""),
                   Answer(202, b"", content_type=""), Answer(299, b"")]


async def _connected(answer: Answer) -> AsyncIterator[tuple[AlpacaBroker, LoopbackServer]]:
    routes = {("GET", "/v2/account"): Answer(200, ACCOUNT),
              ("POST", "/v2/orders"): answer,
              ("PATCH", f"/v2/orders/{ORDER_ID}"): answer,
              ("DELETE", f"/v2/orders/{ORDER_ID}"): answer}
    async with LoopbackServer(routes) as server:
        broker = AlpacaBroker(AlpacaAuth(key_id="key-1", secret_key="secret-canary-77"),
                              config=AlpacaConfig.emulator(server.url),
                              retry=RetryPolicy(max_attempts=1))
        try:
            await broker.connect()
            yield broker, server
        finally:
            await broker.disconnect()


def _label(answer: Answer) -> str:
    return f"empty_{answer.status}"


@pytest.mark.parametrize("answer", EMPTY_SUCCESSES, ids=_label)
async def test_an_empty_success_to_a_placement_is_ambiguous(answer: Answer) -> None:
    async for broker, server in _connected(answer):
        request = OrderRequest(symbol="AAPL", side="buy", quantity=Decimal(1))
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await broker.place_order(request)
        assert raised.value.client_order_id == request.client_order_id
        assert raised.value.http_status == answer.status
        assert "do not resend" in raised.value.message
        assert "secret-canary-77" not in str(raised.value)
        assert server.count("POST", "/v2/orders") == 1


@pytest.mark.parametrize("answer", EMPTY_SUCCESSES, ids=_label)
async def test_an_empty_success_to_a_replace_is_ambiguous(answer: Answer) -> None:
    async for broker, server in _connected(answer):
        changes = OrderModify(limit_price=Decimal("10.5"), client_order_id="replace-7")
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await broker.modify_order(ORDER_ID, changes)
        assert raised.value.client_order_id == "replace-7"
        assert server.count("PATCH", f"/v2/orders/{ORDER_ID}") == 1


@pytest.mark.parametrize("answer", [a for a in EMPTY_SUCCESSES if a.status != 204],
                         ids=_label)
async def test_an_empty_undocumented_success_to_a_cancel_is_ambiguous(answer: Answer) -> None:
    async for broker, server in _connected(answer):
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await broker.cancel_order(ORDER_ID)
        assert raised.value.http_status == answer.status
        assert server.count("DELETE", f"/v2/orders/{ORDER_ID}") == 1


async def test_the_documented_204_to_a_cancel_is_a_success() -> None:
    async for broker, server in _connected(Answer(204, b"", content_type="")):
        assert await broker.cancel_order(ORDER_ID) is True
        assert server.count("DELETE", f"/v2/orders/{ORDER_ID}") == 1


async def test_a_readable_order_under_201_is_the_order_placed() -> None:
    async for broker, _ in _connected(Answer(201, json.dumps(ORDER).encode())):
        request = OrderRequest(symbol="AAPL", side="buy", quantity=Decimal(2),
                               order_type="limit", limit_price=Decimal(150),
                               time_in_force="gtc")
        result = await broker.place_order(request)
        assert (result.success, result.order_id) == (True, ORDER["id"])
        assert result.client_order_id == ORDER["client_order_id"]
